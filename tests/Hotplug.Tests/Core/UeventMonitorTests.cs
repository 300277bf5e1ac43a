using Hotplug;
using Hotplug.Uevents;
using Hotplug.Tests.Uevents;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Core;

/// <summary>The monitor on the real netlink socket of this host.</summary>
public class UeventMonitorTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Requires", "Root")] // writes /sys/class/net/lo/uevent
    public void The_monitor_delivers_a_real_kernel_uevent_and_start_stop_are_reference_counted()
    {
        using var loggers = XunitLoggerFactory.Create(output);
        using var eal = new Eal(null, loggers);
        string uuid = Guid.NewGuid().ToString("D"); // known before the write: the event can beat the assignment
        var seen = new SemaphoreSlim(0);
        eal.UeventReceived += ev =>
        {
            if (ev["SYNTH_UUID"] == uuid)
                seen.Release();
        };
        eal.StartDeviceEventMonitor();
        eal.StartDeviceEventMonitor();
        Assert.True(eal.StopDeviceEventMonitor());
        Assert.True(eal.DeviceEventMonitorRunning);

        File.WriteAllText(SysfsUevent.Loopback, "change " + uuid);

        Assert.True(seen.Wait(TimeSpan.FromSeconds(10)), "the lo change uevent did not arrive");
        Assert.True(eal.StopDeviceEventMonitor());
        Assert.False(eal.DeviceEventMonitorRunning);
        Assert.False(eal.StopDeviceEventMonitor());
    }

    [Fact]
    [Trait("Requires", "Root")] // writes /sys/class/net/lo/uevent
    public void After_the_kernel_drops_uevents_a_rescan_recovers_the_lost_remove()
    {
        using var loggers = XunitLoggerFactory.Create(output, Microsoft.Extensions.Logging.LogLevel.Warning);
        using var rig = new SimulatedRig(output);
        var other = rig.Sim.AddDevice("0000:04:00.0", 0x8086, 0x10d3, [1UL << 16], kernelDriver: null);
        using var eal = PciEal.Create(rig.Sim.CreateOptions(), new EalOptions { UeventReceiveBufferBytes = 1 }, loggers);
        using var metrics = new MetricRecorder(eal.Metrics.Meter);
        var removed = new SemaphoreSlim(0);
        DeviceEvent? got = null;
        eal.DeviceEvents.Register("0000:04:00.0", e => { got = e; removed.Release(); });
        eal.Scan();
        eal.StartDeviceEventMonitor();

        other.Remove(); // no uevent reaches us for a simulated device: only the resync can tell
        for (int round = 0; round < 20 && !removed.Wait(0); round++)
        {
            Parallel.For(0, 200, _ => SysfsUevent.Change(SysfsUevent.Loopback));
            removed.Wait(TimeSpan.FromMilliseconds(500));
            if (got is not null)
                break;
        }

        Assert.True(eal.UeventStats!.Value.Overflows > 0, "the kernel never overflowed a 2 KiB buffer");
        Assert.NotNull(got);
        Assert.Equal(DeviceEventType.Remove, got!.Type);
        Assert.Equal(DeviceEventSource.Scan, got.Source);
        Assert.True(metrics.Sum(HotplugMeter.Resyncs) >= 1, "no resync counted");
        Assert.Equal(1, metrics.Sum(HotplugMeter.Removals, "source", "scan"));
    }
}
