using Hotplug.Testing;
using Hotplug.Tests.Support;
using Hotplug.Tests.Uevents;
using Hotplug.Uevents;

namespace Hotplug.Tests.Core;

/// <summary>
/// Which life of a device an event belongs to (its attachment's generation), the BOUND event that says a re-added
/// device can be attached, and what the core does once disposed (issue 10, items 5, 6 and 7).
/// </summary>
public sealed class DeviceLifeTests(ITestOutputHelper output)
{
    private const string A = "0000:01:00.0";

    [Fact]
    public void A_stale_remove_from_a_queue_never_detaches_the_device_attached_again_since()
    {
        using var sim = SimulatedPciBus.Create();
        using var loggers = XunitLoggerFactory.Create(output);
        using var eal = PciEal.Create(sim.CreateOptions(), null, loggers);
        eal.Pci().RegisterDriver(new SimulatedDriver("edu"));
        var queued = new List<DeviceEvent>();
        using var removes = new SemaphoreSlim(0);
        using var sub = eal.DeviceEvents.Register(A, e =>
        {
            lock (queued)
                queued.Add(e); // an app that acts on its events later, on its own thread
            if (e.Type == DeviceEventType.Remove)
                removes.Release();
        });

        var first = sim.AddDevice(A, 0x1234, 0x11e8, [4096]);
        long g1 = eal.HotplugAdd("pci", A).Generation;
        first.Remove();
        Assert.True(removes.Wait(TimeSpan.FromSeconds(10)), "no REMOVE");
        eal.HotplugRemove("pci", A); // fast: detached and attached again before the queue is read
        first.Dispose();
        using var second = sim.AddDevice(A, 0x1234, 0x11e8, [4096]);
        var d = eal.HotplugAdd("pci", A);

        DeviceEvent stale;
        lock (queued)
            stale = queued.Single(e => e.Type == DeviceEventType.Remove);
        Assert.Equal(g1, stale.Generation);
        Assert.NotEqual(g1, d.Generation);
        Assert.False(eal.HotplugRemove(stale)); // refused: that life is over
        Assert.Equal(DeviceState.Probed, d.State);
        Assert.NotNull(d.Driver);
        Assert.False(((PciDevice)d).Bar(0).IsRemapped);
    }

    [Fact]
    public void A_remove_of_the_current_life_detaches()
    {
        using var sim = SimulatedPciBus.Create();
        using var eal = PciEal.Create(sim.CreateOptions());
        eal.Pci().RegisterDriver(new SimulatedDriver("edu"));
        using var dev = sim.AddDevice(A, 0x1234, 0x11e8, [4096]);
        var d = eal.HotplugAdd("pci", A);
        var e = new DeviceEvent("pci", A, DeviceEventType.Remove, DeviceEventSource.Uio, 0, d.Generation);
        Assert.True(eal.HotplugRemove(e));
        Assert.Null(d.Driver);
        Assert.Equal(0, d.Generation);
    }

    [Theory]
    [InlineData("vfio-pci", true)]
    [InlineData("uio_pci_generic", true)]
    [InlineData("igb_uio", true)]
    [InlineData("e1000e", false)]
    public void A_bind_to_a_user_space_driver_is_a_bound_event(string driver, bool bound)
    {
        using var sim = SimulatedPciBus.Create();
        using var eal = PciEal.Create(sim.CreateOptions());
        var events = new List<DeviceEvent>();
        using var sub = eal.DeviceEvents.Register(null, e => { lock (events) events.Add(e); });
        eal.InjectUevent(PciUevent("add", "0000:03:00.0"));
        eal.InjectUevent(PciUevent("bind", "0000:03:00.0", "DRIVER=" + driver));
        eal.FlushEventThread();
        eal.FlushEventThread();
        lock (events)
        {
            Assert.Equal(DeviceEventType.Add, events[0].Type);
            Assert.Equal(bound ? [DeviceEventType.Add, DeviceEventType.Bound] : [DeviceEventType.Add], events.Select(e => e.Type));
        }
    }

    [Fact]
    public void Detaching_a_device_never_attached_says_it_is_not_attached_without_guessing_why()
    {
        using var sim = SimulatedPciBus.Create();
        using var eal = PciEal.Create(sim.CreateOptions());
        using var dev = sim.AddDevice(A, 0x1234, 0x11e8, [4096]);
        eal.Scan();
        var never = Assert.Throws<HotplugException>(() => eal.HotplugRemove("pci", A));
        eal.Pci().RegisterDriver(new SimulatedDriver("edu"));
        eal.HotplugAdd("pci", A);
        eal.HotplugRemove("pci", A);
        var twice = Assert.Throws<HotplugException>(() => eal.HotplugRemove("pci", A));
        Assert.Equal(never.Message, twice.Message); // the same words whatever the history
        Assert.DoesNotContain("twice", never.Message);
    }

    [Fact]
    public async Task After_dispose_a_reader_completes_at_once_and_registering_is_object_disposed()
    {
        var eal = new Eal();
        eal.Dispose();
        var reader = eal.DeviceEvents.ReadAllAsync().GetAsyncEnumerator();
        var next = reader.MoveNextAsync().AsTask();
        Assert.Same(next, await Task.WhenAny(next, Task.Delay(TimeSpan.FromSeconds(10))));
        Assert.False(await next);
        Assert.Throws<ObjectDisposedException>(() => eal.DeviceEvents.Register(null, _ => { }));
    }

    [Fact]
    public void A_bad_device_name_says_why()
    {
        using var eal = PciEal.Create(new PciBusOptions { SysfsRoot = "/nonexistent" });
        var e = Assert.Throws<DeviceNotFoundException>(() => eal.HotplugAdd("pci", "0000:01:ab.0"));
        Assert.Contains("device number 0xab exceeds 0x1f", e.Message);
    }

    private static Uevent PciUevent(string action, string slot, params string[] extra)
    {
        string path = $"/devices/pci0000:00/0000:00:10.0/{slot}";
        string text = $"{action}@{path}\0ACTION={action}\0DEVPATH={path}\0SUBSYSTEM=pci\0{string.Concat(extra.Select(e => e + "\0"))}PCI_ID=1234:11E8\0PCI_SLOT_NAME={slot}\0SEQNUM=900\0";
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(text), out var ev, out string? error), error);
        return ev!;
    }
}
