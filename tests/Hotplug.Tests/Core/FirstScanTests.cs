using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Core;

/// <summary>The first scan of a bus reports what is there without announcing it; later scans announce changes.</summary>
public class FirstScanTests(ITestOutputHelper output)
{
    [Fact]
    public void Attaching_one_device_before_the_first_scan_does_not_make_that_scan_announce_every_other_device()
    {
        using var sim = Testing.SimulatedPciBus.Create();
        sim.AddDevice("0000:01:00.0", 0x1234, 0x11e8, [1UL << 16]);
        sim.AddDevice("0000:02:00.0", 0x8086, 0x10d3, [1UL << 16], kernelDriver: null);
        using var loggers = XunitLoggerFactory.Create(output);
        using var eal = PciEal.Create(sim.CreateOptions(), null, loggers);
        eal.Pci().RegisterDriver(new SimulatedDriver("test-driver", new PciId(0x1234, 0x11e8)));
        var events = new List<DeviceEvent>();
        eal.DeviceEvents.Register(null, e => { lock (events) events.Add(e); });

        eal.HotplugAdd("pci", "0000:01:00.0");
        var first = eal.Scan();
        sim.AddDevice("0000:03:00.0", 0x8086, 0x10d3, [1UL << 16], kernelDriver: null);
        var second = eal.Scan();
        eal.FlushEventThread();
        eal.FlushEventThread();

        Assert.Equal(["0000:02:00.0"], first.Added);
        Assert.Equal(["0000:03:00.0"], second.Added);
        lock (events)
            Assert.Equal(["0000:03:00.0"], events.Where(e => e.Type == DeviceEventType.Add).Select(e => e.DeviceName));
    }
}
