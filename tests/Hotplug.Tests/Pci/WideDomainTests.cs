using Hotplug.Uevents;
using Hotplug.Pci;
using Hotplug.Testing;
using Hotplug.Tests.Uevents;
using Hotplug.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Pci;


/// <summary>
/// PCI domains wider than 16 bits (Intel VMD puts its child devices in domains from 0x10000 up): listed,
/// attachable and monitored like any other. Fake trees only; the VMD controller itself sits at
/// 0000:00:0e.0 and its children under <c>/devices/pci0000:00/0000:00:0e.0/pci10000:00/...</c>.
/// </summary>
public sealed class WideDomainTests : IDisposable
{
    private const string Controller = "0000:00:0e.0", Child = "10000:01:00.0", Bridge = "10000:00:02.0";
    private const string ChildPath = "/devices/pci0000:00/" + Controller + "/pci10000:00/" + Bridge + "/" + Child;

    private readonly SimulatedPciBus _sim = SimulatedPciBus.Create();
    private readonly ILoggerFactory _loggers;
    private readonly Eal _eal;
    private readonly SimulatedDriver _driver = new();
    private readonly List<DeviceEvent> _events = [];

    public WideDomainTests(ITestOutputHelper output)
    {
        _sim.AddDevice(Controller, 0x8086, 0x201d, [1 << 16], kernelDriver: "vmd");
        _sim.AddDevice(Child, 0x1234, 0x11e8, [1 << 20]).WriteRegister32(0, 0, 0x010000ed);
        _loggers = XunitLoggerFactory.Create(output);
        _eal = PciEal.Create(new PciBusOptions { SysfsRoot = _sim.SysfsRoot, DevRoot = _sim.DevRoot, AllowList = [Child], AutoProbeOnAdd = true },
            null, _loggers);
        _eal.Pci().RegisterDriver(_driver);
        _eal.DeviceEvents.Register(null, e =>
        {
            lock (_events)
                _events.Add(e);
        });
    }

    public void Dispose()
    {
        _eal.Dispose();
        _sim.Dispose();
        _loggers.Dispose();
    }

    [Theory]
    [InlineData("10000:01:00.0", 0x10000u)]     // Intel VMD: domains from 0x10000 up
    [InlineData("1000f:e1:00.3", 0x1000fu)]
    [InlineData("ffffffff:00:00.0", 0xffffffffu)]
    public void The_scanner_lists_and_reads_them(string address, uint domain)
    {
        using var fs = SimulatedPciBus.Create();
        fs.AddText("0000:01:00.0");
        fs.AddText(address, vendor: "0x144d", device: "0xa808");

        var errors = new List<string>();
        var list = new SysfsPciScanner(fs.SysfsRoot).ScanAll(errors);

        Assert.Empty(errors);
        Assert.Equal(["0000:01:00.0", address], list.Select(d => d.Address.ToString()));
        var d = list[1];
        Assert.Equal(domain, d.Address.Domain);
        Assert.Equal(Path.Combine(fs.SysfsRoot, address), d.SysfsPath);
        Assert.Equal(0x144d, d.VendorId);
        Assert.True(new SysfsPciScanner(fs.SysfsRoot).Exists(d.Address));
    }

    [Fact]
    public void A_child_is_scanned_and_attached_by_its_name()
    {
        var scan = _eal.Scan();
        Assert.Equal([Controller, Child], scan.Added.Order(StringComparer.Ordinal));
        Assert.Empty(scan.Errors);

        var dev = Assert.IsType<PciDevice>(_eal.HotplugAdd("pci", Child));
        Assert.Equal(Child, dev.Name);
        Assert.Equal(0x010000edu, dev.Bar(0).Read32(0));
        Assert.Same(dev, _eal.Pci().FindDevice("0010000:01:00.0"));
        _eal.HotplugRemove("pci", Child);
        Assert.Equal(1, _driver.RemoveCalls);
    }

    [Fact]
    public void An_allow_listed_child_is_auto_probed_on_the_kernels_add()
    {
        _eal.InjectUevent(Parse("add", "pci", ChildPath, "PCI_SLOT_NAME=" + Child));
        _eal.FlushEventThread();

        Assert.Equal(1, _driver.ProbeCalls);
        Assert.Equal(DeviceState.Probed, _eal.Pci().Find(PciAddress.Parse(Child))!.State);
    }

    [Fact]
    public void The_kernels_remove_of_an_attached_child_is_its_remove_event()
    {
        _eal.Scan();
        _eal.HotplugAdd("pci", Child);

        _eal.InjectUevent(Parse("remove", "pci", ChildPath, "PCI_SLOT_NAME=" + Child));
        _eal.FlushEventThread();
        _eal.FlushEventThread();

        List<DeviceEvent> events;
        lock (_events)
            events = [.. _events];
        Assert.Contains(events, e => e.Type == DeviceEventType.Remove && e.DeviceName == Child);
        Assert.DoesNotContain(events, e => e.DeviceName == Controller);
    }

    [Theory]
    [InlineData("remove", "pci", ChildPath, "PCI_SLOT_NAME=" + Child, Child)]
    [InlineData("add", "pci", ChildPath, "PCI_SLOT_NAME=" + Child, Child)]
    [InlineData("remove", "pci", ChildPath, "", Child)]                                   // no slot name: from the devpath
    [InlineData("remove", "pci", "/devices/pci0000:00/" + Controller + "/pci10000:00/" + Bridge, "PCI_SLOT_NAME=" + Bridge, Bridge)]
    [InlineData("remove", "pci", "/devices/pci0000:00/" + Controller, "PCI_SLOT_NAME=" + Controller, Controller)]
    [InlineData("remove", "uio", ChildPath + "/uio/uio0", "", Child)]
    [InlineData("remove", "vfio-dev", ChildPath + "/vfio-dev/vfio0", "", Child)]
    [InlineData("remove", "uio", "/devices/pci0000:00/" + Controller + "/pci10000:00/" + Bridge + "/10000:02:00.0/uio/uio1", "", null)] // not the controller's
    public void Uevents_map_to_the_function_they_are_about(string action, string subsystem, string devPath, string extra, string? expected)
    {
        _eal.Scan();

        bool mapped = _eal.Pci().TryMapUevent(Parse(action, subsystem, devPath, extra), out string? name, out var type);

        Assert.Equal(expected is not null, mapped);
        Assert.Equal(expected, name);
        if (mapped)
            Assert.Equal(action == "add" ? DeviceEventType.Add : DeviceEventType.Remove, type);
    }

    private static Uevent Parse(string action, string subsystem, string devPath, string extra)
    {
        string text = $"{action}@{devPath}\0ACTION={action}\0DEVPATH={devPath}\0SUBSYSTEM={subsystem}\0"
            + (extra.Length > 0 ? extra + "\0" : "") + "SEQNUM=901\0";
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(text), out var ev, out string? error), error);
        return ev!;
    }
}
