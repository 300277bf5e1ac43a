using Hotplug.Testing;
using Hotplug.Tests.Support;
using Hotplug.Uevents;
using Hotplug.Tests.Uevents;

namespace Hotplug.Tests.Metrics;

/// <summary>The <c>Hotplug</c> meter, read with a MeterListener (issue 15, item 4).</summary>
public sealed class HotplugMetricsTests(ITestOutputHelper output)
{
    [Fact]
    public void A_surprise_removal_counts_one_removal_by_its_first_source_the_fault_and_the_latency()
    {
        using var rig = new SimulatedRig(output);
        using var metrics = new MetricRecorder(rig.Eal.Metrics.Meter);

        rig.Device.Remove();
        _ = rig.Bar0.Read32(0); // a fault, or dead memory if the hang-up won
        var e = rig.WaitRemove();
        rig.Settle();

        Assert.Equal(HotplugMeter.Name, rig.Eal.Metrics.Meter.Name);
        var removal = Assert.Single(metrics.Get(HotplugMeter.Removals));
        Assert.Equal(1, removal.Value);
        Assert.Equal(e.Source == DeviceEventSource.Sigbus ? "sigbus" : "uio", removal.Tags["source"]);
        Assert.Equal(e.Source == DeviceEventSource.Sigbus ? 1 : 0, metrics.Sum(HotplugMeter.FaultsRecovered));
        var latency = Assert.Single(metrics.Get(HotplugMeter.CallbackLatency), m => Equals(m.Tags["type"], "remove"));
        Assert.InRange(latency.Value, 0, 10_000);
    }

    [Fact]
    public void A_fault_charged_to_a_device_counts_as_recovered()
    {
        using var rig = new SimulatedRig(output);
        using var metrics = new MetricRecorder(rig.Eal.Metrics.Meter);
        rig.Device.FailBars(); // only the memory goes: the SIGBUS is the first signal
        _ = rig.Bar0.Read32(0);
        var e = rig.WaitRemove();
        rig.Settle();
        Assert.Equal(DeviceEventSource.Sigbus, e.Source);
        Assert.Equal(1, metrics.Sum(HotplugMeter.FaultsRecovered));
        Assert.Equal(1, metrics.Sum(HotplugMeter.Removals, "source", "sigbus"));
    }

    [Fact]
    public void A_throwing_callback_is_counted()
    {
        using var rig = new SimulatedRig(output);
        using var metrics = new MetricRecorder(rig.Eal.Metrics.Meter);
        rig.Eal.DeviceEvents.Register(null, _ => throw new InvalidOperationException("app bug"));
        rig.Device.Remove();
        rig.WaitRemove();
        rig.Settle();
        Assert.Equal(1, metrics.Sum(HotplugMeter.CallbackFailures));
    }

    [Fact]
    public void Uevent_reads_count_received_and_dropped_by_reason()
    {
        using var sim = SimulatedPciBus.Create();
        using var eal = PciEal.Create(sim.CreateOptions());
        using var metrics = new MetricRecorder(eal.Metrics.Meter);

        eal.Metrics.Received(new UeventStats(Received: 5, Parsed: 2, DroppedMalformed: 1, DroppedNotKernel: 1, DroppedOversized: 1, Overflows: 0));

        Assert.Equal(5, metrics.Sum(HotplugMeter.UeventsReceived));
        Assert.Equal(3, metrics.Sum(HotplugMeter.UeventsDropped));
        Assert.Equal(1, metrics.Sum(HotplugMeter.UeventsDropped, "reason", "not_kernel"));
        Assert.Equal(1, metrics.Sum(HotplugMeter.UeventsDropped, "reason", "malformed"));
        Assert.Equal(1, metrics.Sum(HotplugMeter.UeventsDropped, "reason", "oversized"));
    }

    [Fact]
    [Trait("Requires", "Root")] // writes /sys/class/net/lo/uevent
    public void The_monitor_counts_the_uevents_it_reads_from_the_real_socket()
    {
        using var eal = new Eal();
        using var metrics = new MetricRecorder(eal.Metrics.Meter);
        using var seen = new SemaphoreSlim(0);
        string uuid = Guid.NewGuid().ToString("D");
        eal.UeventReceived += ev =>
        {
            if (ev["SYNTH_UUID"] == uuid)
                seen.Release();
        };
        eal.StartDeviceEventMonitor();
        File.WriteAllText(SysfsUevent.Loopback, "change " + uuid);
        Assert.True(seen.Wait(TimeSpan.FromSeconds(10)), "the lo change uevent did not arrive");
        eal.FlushEventThread();
        Assert.True(metrics.Sum(HotplugMeter.UeventsReceived) >= 1);
    }

    [Fact]
    public void An_eal_given_a_meter_factory_creates_its_meter_there()
    {
        using var factory = new TestMeterFactory();
        using var eal = new Eal(new EalOptions { MeterFactory = factory });
        Assert.Same(factory.Created.Single(), eal.Metrics.Meter);
        Assert.Equal(HotplugMeter.Name, eal.Metrics.Meter.Name);
    }

    private sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        public List<System.Diagnostics.Metrics.Meter> Created { get; } = [];

        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
        {
            var m = new System.Diagnostics.Metrics.Meter(options.Name, options.Version);
            Created.Add(m);
            return m;
        }

        public void Dispose()
        {
            foreach (var m in Created)
                m.Dispose();
        }
    }
}
