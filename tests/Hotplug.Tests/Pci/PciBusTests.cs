using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;
using Hotplug.Tests.Uevents;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Hotplug.Tests.Pci;

using Eal = Eal;

/// <summary>Scan, probe, rescan and hotplug add/remove of the PCI bus through an <see cref="Eal"/>, on simulated devices.</summary>
public sealed class PciBusTests : IDisposable
{
    private const string A = "0000:01:00.0", B = "0000:02:00.0", C = "0000:03:00.0";

    private readonly SimulatedPciBus _sim = SimulatedPciBus.Create();
    private readonly ILoggerFactory _loggers;
    private readonly List<Eal> _eals = [];

    public PciBusTests(ITestOutputHelper output)
    {
        _loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new OutputProvider(output)));
    }

    public void Dispose()
    {
        foreach (var eal in _eals)
            eal.Dispose();
        _sim.Dispose();
        _loggers.Dispose();
    }

    private Eal NewEal(PciBusOptions? options = null)
    {
        var eal = PciEal.Create(options ?? _sim.CreateOptions(), null, _loggers);
        _eals.Add(eal);
        return eal;
    }

    private PciBusOptions ListOptions(string[]? allow = null, string[]? block = null) =>
        new() { SysfsRoot = _sim.SysfsRoot, DevRoot = _sim.DevRoot, AllowList = allow ?? [], BlockList = block ?? [] };

    private string DeviceDir(string address) => Path.Combine(_sim.SysfsRoot, address);

    private static PciDevice Dev(Eal eal, string address) => eal.Pci().Find(PciAddress.Parse(address)) ?? throw new Xunit.Sdk.XunitException($"{address} is not known");

    // ---- scan ----

    [Fact]
    public void ScanReportsDevicesAppearingAndDisappearing()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        var b = _sim.AddDevice(B, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();

        var first = eal.Scan();
        Assert.Equal([A, B], first.Added.Order());
        Assert.Empty(first.Removed);
        Assert.Empty(first.Errors);

        var again = eal.Scan();
        Assert.Empty(again.Added);
        Assert.Empty(again.Removed);

        b.Remove();
        _sim.AddDevice(C, 0x8086, 0x10d3, [1 << 20]);
        var changed = eal.Scan();
        Assert.Equal([C], changed.Added);
        Assert.Equal([B], changed.Removed);
        Assert.Equal([A, C], eal.Pci().Devices.Select(d => d.Name));
        Assert.Null(eal.Pci().FindDevice(B));
    }

    [Fact]
    public void EalPublishesAddAndRemoveFromScanAfterTheFirstScanOnly()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var events = new BlockingCollection<DeviceEvent>();
        using var sub = eal.DeviceEvents.Register(null, events.Add);

        eal.Scan(); // the first scan finds the machine as it is: no events
        var b = _sim.AddDevice(B, 0x1234, 0x11e8, [1 << 20]);
        eal.Scan();
        b.Remove();
        eal.Scan();

        var got = new List<DeviceEvent>();
        while (got.Count < 2 && events.TryTake(out var e, TimeSpan.FromSeconds(5)))
            got.Add(e);
        Assert.Equal([(B, DeviceEventType.Add, DeviceEventSource.Scan), (B, DeviceEventType.Remove, DeviceEventSource.Scan)],
            got.Select(e => (e.DeviceName, e.Type, e.Source)));
        Assert.All(got, e => Assert.Equal("pci", e.BusName));
        Assert.False(events.TryTake(out var extra, TimeSpan.FromMilliseconds(200)), $"unexpected {extra}");
    }

    [Fact]
    public void AScanErrorIsReportedAndTheOtherDevicesAreFound()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        _sim.AddDevice(B, 0x1234, 0x11e8, [1 << 20]);
        File.WriteAllText(Path.Combine(DeviceDir(A), "vendor"), "banana\n");
        using var eal = NewEal();

        var r = eal.Scan();

        Assert.Equal([B], r.Added);
        Assert.Contains(Path.Combine(DeviceDir(A), "vendor"), Assert.Single(r.Errors));
    }

    [Fact]
    public void AReusedAddressGetsTheNewIdsWhenNotAttached()
    {
        var old = _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        eal.Scan();
        Assert.Equal(0x11e8, Dev(eal, A).Info.DeviceId);

        old.Remove();
        _sim.AddDevice(A, 0x8086, 0x10d3, [1 << 20]); // another function at the same address between two scans
        eal.Scan();

        var d = Dev(eal, A);
        Assert.Equal(0x8086, d.Info.VendorId);
        Assert.Equal(0x10d3, d.Info.DeviceId);
    }

    [Fact]
    public void AnAttachedDeviceReplacedByAnotherFunctionIsRemovedAndTheNewOneIsReadAfterDetach()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var drv = new SimulatedDriver("any");
        eal.Pci().RegisterDriver(drv);
        eal.Scan();
        Assert.Equal(1, eal.Probe());

        // Another function now answers at the address (no other removal signal on the way).
        File.WriteAllText(Path.Combine(DeviceDir(A), "vendor"), "0x8086\n");
        File.WriteAllText(Path.Combine(DeviceDir(A), "device"), "0x10d3\n");
        var r = eal.Scan();

        Assert.Equal([A], r.Removed);
        Assert.Equal(DeviceState.Removed, Dev(eal, A).State);
        eal.HotplugRemove("pci", A);
        Assert.Equal([A], drv.Removed);
        Assert.Equal([A], eal.Scan().Added);
        Assert.Equal(0x10d3, Dev(eal, A).Info.DeviceId);
        Assert.Equal(DeviceState.Parsed, Dev(eal, A).State);
    }

    [Fact]
    public void ARescanDoesNotDisturbAProbedDevicesMappedBars()
    {
        var sim = _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20, 0, 64 << 10]);
        using var eal = NewEal();
        eal.Pci().RegisterDriver(new SimulatedDriver("any"));
        eal.Scan();
        eal.Probe();
        var d = Dev(eal, A);
        var info = d.Info;
        var pointers = d.Bars.Select(b => (b.Index, b.Pointer)).ToList();
        Assert.Equal([0, 2], pointers.Select(p => p.Index));
        Assert.All(pointers, p => Assert.NotEqual(0, p.Pointer));

        File.WriteAllText(Path.Combine(DeviceDir(A), "numa_node"), "1\n"); // sysfs changes under it
        var r = eal.Scan();
        eal.Scan();

        Assert.Empty(r.Added);
        Assert.Empty(r.Removed);
        Assert.Same(d, Dev(eal, A));
        Assert.Same(info, d.Info);
        Assert.Equal(DeviceState.Probed, d.State);
        Assert.Equal(pointers, d.Bars.Select(b => (b.Index, b.Pointer)));
        sim.WriteRegister32(0, 0x40, 0xC0FFEE);
        Assert.Equal(0xC0FFEEu, d.Bar(0).Read32(0x40)); // still the device's memory
        d.Bar(2).Write32(8, 0x12345678);
        Assert.Equal(0x12345678u, sim.ReadRegister32(2, 8));
    }

    // ---- probe ----

    [Fact]
    public void ProbingTwiceNeverCallsTheDriverTwiceNorRemaps()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var drv = new SimulatedDriver("edu", new PciId(0x1234, 0x11e8));
        eal.Pci().RegisterDriver(drv);
        eal.Scan();

        Assert.Equal(1, eal.Probe());
        var d = Dev(eal, A);
        nint bar0 = d.Bar(0).Pointer;
        Assert.Equal(0, eal.Probe());
        eal.Scan();
        Assert.Equal(0, eal.Probe());

        Assert.Equal([A], drv.Probed);
        Assert.Equal(bar0, d.Bar(0).Pointer);
        Assert.Single(d.Bars);
        Assert.Same(drv, d.Driver);
        Assert.Equal(DeviceState.Probed, d.State);
    }

    [Fact]
    public void ProbeMatchesTheIdTable()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        _sim.AddDevice(B, 0x8086, 0x10d3, [1 << 20]);
        using var eal = NewEal();
        var nic = new SimulatedDriver("nic", new PciId(0x8086, 0x10d3));
        eal.Pci().RegisterDriver(nic);
        eal.Scan();

        Assert.Equal(1, eal.Probe());
        Assert.Equal([B], nic.Probed);
        Assert.Null(Dev(eal, A).Driver);
        Assert.Empty(Dev(eal, A).Bars);
    }

    [Fact]
    public void ADriverThatDeclinesLetsTheNextOneTry()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var picky = new SimulatedDriver("picky") { OnProbe = _ => false };
        var taker = new SimulatedDriver("taker");
        eal.Pci().RegisterDriver(picky);
        eal.Pci().RegisterDriver(taker);
        eal.Scan();

        Assert.Equal(1, eal.Probe());

        var d = Dev(eal, A);
        Assert.Equal([A], picky.Probed);
        Assert.Equal([A], taker.Probed);
        Assert.Equal([1], picky.BarsSeenAtProbe);
        Assert.Equal([1], taker.BarsSeenAtProbe);
        Assert.Same(taker, d.Driver);
        Assert.Single(d.Bars);
    }

    [Fact]
    public void WhenEveryDriverDeclinesTheDeviceStaysParsedAndUnmapped()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var picky = new SimulatedDriver("picky") { OnProbe = _ => false };
        eal.Pci().RegisterDriver(picky);
        eal.Scan();

        Assert.Equal(0, eal.Probe());
        var d = Dev(eal, A);
        Assert.Equal(DeviceState.Parsed, d.State);
        Assert.Empty(d.Bars);
        var e = Assert.Throws<HotplugException>(() => eal.HotplugAdd("pci", A));
        Assert.Contains("picky declined", e.Message);
    }

    [Fact]
    public void ADriverThatThrowsHasItsMappingUndone()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20, 1 << 16]);
        using var eal = NewEal();
        var seen = new List<nint>();
        var broken = new SimulatedDriver("broken")
        {
            OnProbe = d =>
            {
                seen.AddRange(d.Bars.Select(b => b.Pointer));
                throw new InvalidOperationException("firmware says no");
            },
        };
        eal.Pci().RegisterDriver(broken);
        eal.Scan();

        Assert.Equal(0, eal.Probe());
        var d = Dev(eal, A);
        Assert.Equal(2, seen.Count);           // it was mapped for the probe...
        Assert.Empty(d.Bars);                  // ...and unmapped after the failure
        Assert.Equal(DeviceState.Parsed, d.State);
        Assert.Null(d.Driver);

        var e = Assert.Throws<HotplugException>(() => eal.HotplugAdd("pci", A));
        Assert.IsType<InvalidOperationException>(e.InnerException);
        Assert.Contains("firmware says no", e.Message);
        Assert.Empty(d.Bars);
        Assert.Equal(DeviceState.Parsed, d.State);
        Assert.Equal(2, broken.Probed.Count);

        // Fixed, it attaches: nothing was left behind by the failures.
        broken.OnProbe = _ => true;
        eal.HotplugAdd("pci", A);
        Assert.Equal(DeviceState.Probed, d.State);
        Assert.Equal(2, d.Bars.Count);
    }

    [Fact]
    public void ADriverThatThrowsAHotplugExceptionAlsoHasItsMappingUndone()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var broken = new SimulatedDriver("broken") { OnProbe = _ => throw new HotplugException("queue setup failed") };
        eal.Pci().RegisterDriver(broken);
        eal.Scan();

        Assert.Equal(0, eal.Probe());
        var d = Dev(eal, A);
        Assert.Equal([1], broken.BarsSeenAtProbe);
        Assert.Empty(d.Bars);
        Assert.Equal(DeviceState.Parsed, d.State);

        var e = Assert.Throws<HotplugException>(() => eal.HotplugAdd("pci", A));
        Assert.Contains("queue setup failed", e.Message);
        Assert.Empty(d.Bars);
        Assert.Null(d.Driver);
    }

    [Fact]
    public void ADeviceWithNoKernelDriverIsListedButNeverMapped()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20], kernelDriver: null);
        using var eal = NewEal();
        var drv = new SimulatedDriver("edu");
        eal.Pci().RegisterDriver(drv);

        Assert.Equal([A], eal.Scan().Added);
        var d = Dev(eal, A);
        Assert.Equal(PciKernelDriver.None, d.Info.KernelDriver);
        Assert.Null(d.Info.KernelDriverName);
        Assert.Equal(0, eal.Probe());
        var e = Assert.Throws<HotplugException>(() => eal.HotplugAdd("pci", A));
        Assert.Contains("no kernel driver", e.Message);
        Assert.Empty(drv.Probed);
        Assert.Empty(d.Bars);
        Assert.Equal(DeviceState.Parsed, d.State);
    }

    [Fact]
    public void ADeviceOnAKernelDriverIsNeverMapped()
    {
        _sim.AddDevice(A, 0x8086, 0x10d3, [1 << 20], kernelDriver: "e1000e");
        using var eal = NewEal();
        var drv = new SimulatedDriver("nic");
        eal.Pci().RegisterDriver(drv);
        eal.Scan();

        Assert.Equal(0, eal.Probe());
        Assert.Contains("e1000e", Assert.Throws<HotplugException>(() => eal.HotplugAdd("pci", A)).Message);
        Assert.Empty(drv.Probed);
        Assert.Empty(Dev(eal, A).Bars);
    }

    [Fact]
    public void OnlyAllowListedDevicesAreProbed()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        _sim.AddDevice(B, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal(ListOptions(allow: ["02:00.0"]));
        var drv = new SimulatedDriver("edu");
        eal.Pci().RegisterDriver(drv);
        eal.Scan();

        Assert.Equal(1, eal.Probe());
        Assert.Equal([B], drv.Probed);
        Assert.Empty(Dev(eal, A).Bars);
        Assert.Contains("not allowed", Assert.Throws<HotplugException>(() => eal.HotplugAdd("pci", A)).Message);
        Assert.Equal([B], drv.Probed);
    }

    [Fact]
    public void BlockListedDevicesAreNeverProbed()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        _sim.AddDevice(B, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal(ListOptions(block: [A]));
        var drv = new SimulatedDriver("edu");
        eal.Pci().RegisterDriver(drv);
        eal.Scan();

        Assert.Equal(1, eal.Probe());
        Assert.Equal([B], drv.Probed);
        Assert.Contains("not allowed", Assert.Throws<HotplugException>(() => eal.HotplugAdd("pci", A)).Message);
        Assert.Equal([B], drv.Probed);
        Assert.Empty(Dev(eal, A).Bars);
    }

    [Fact]
    public void ABadAddressInTheListsIsRejectedUpFront()
    {
        Assert.Contains("expected DDDD:BB:DD.F", Assert.Throws<FormatException>(() => new PciBus(ListOptions(allow: ["not-an-address"]))).Message);
        Assert.Contains("function 9 exceeds 7", Assert.Throws<FormatException>(() => new PciBus(ListOptions(block: ["0000:01:00.9"]))).Message);
    }

    // ---- hotplug add / remove ----

    [Fact]
    public void HotplugAddAttachesWithoutAScanAndHotplugRemoveDetaches()
    {
        var sim = _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var drv = new SimulatedDriver("edu");
        eal.Pci().RegisterDriver(drv);

        var dev = Assert.IsType<PciDevice>(eal.HotplugAdd("pci", "01:00.0", "queues=2")); // short form accepted
        Assert.Equal(A, dev.Name);
        Assert.Equal("queues=2", dev.Args);
        Assert.Equal(DeviceState.Probed, dev.State);
        sim.WriteRegister32(0, 0, 0xABCD);
        Assert.Equal(0xABCDu, dev.Bar(0).Read32(0));

        eal.HotplugRemove("pci", A);
        Assert.Equal([A], drv.Removed);
        Assert.Null(dev.Driver);
        Assert.Equal(DeviceState.Parsed, dev.State);
        Assert.Empty(dev.Bars);
    }

    [Fact]
    public void HotplugAddOfAnUnknownBusIsBusNotFound()
    {
        using var eal = NewEal();
        var e = Assert.Throws<BusNotFoundException>(() => eal.HotplugAdd("usb", A));
        Assert.Equal("usb", e.BusName);
        Assert.Throws<BusNotFoundException>(() => eal.HotplugRemove("usb", A));
    }

    [Fact]
    public void HotplugAddOfAnUnknownDeviceIsDeviceNotFound()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        eal.Pci().RegisterDriver(new SimulatedDriver("edu"));
        var e = Assert.Throws<DeviceNotFoundException>(() => eal.HotplugAdd("pci", "0000:09:00.0"));
        Assert.Equal("pci", e.BusName);
        Assert.Equal("0000:09:00.0", e.DeviceName);
        Assert.Throws<DeviceNotFoundException>(() => eal.HotplugRemove("pci", "0000:09:00.0"));
    }

    [Theory]
    [InlineData("eth0")]
    [InlineData("0000:01:00.8")]
    [InlineData("")]
    public void HotplugAddOfABadNameIsDeviceNotFound(string name)
    {
        using var eal = NewEal();
        var e = Assert.Throws<DeviceNotFoundException>(() => eal.HotplugAdd("pci", name));
        Assert.Equal(name, e.DeviceName);
        Assert.Contains("not a valid device name", e.Message);
    }

    [Fact]
    public void HotplugAddOfADeviceThatLeftSinceTheScanIsDeviceNotFound()
    {
        var sim = _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        eal.Pci().RegisterDriver(new SimulatedDriver("edu"));
        eal.Scan();
        sim.Remove();

        Assert.Throws<DeviceNotFoundException>(() => eal.HotplugAdd("pci", A));
        Assert.Null(eal.Pci().FindDevice(A));
    }

    [Fact]
    public void HotplugAddTwiceIsAnErrorAndLeavesTheFirstAttachAlone()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var drv = new SimulatedDriver("edu");
        eal.Pci().RegisterDriver(drv);
        var d = (PciDevice)eal.HotplugAdd("pci", A);
        nint bar0 = d.Bar(0).Pointer;

        var e = Assert.Throws<HotplugException>(() => eal.HotplugAdd("pci", A));
        Assert.IsType<HotplugException>(e); // not a DeviceNotFoundException
        Assert.Contains("attached already", e.Message);
        Assert.Equal(A, d.Name);              // DPDK trap 6: the name must not be corrupted
        Assert.Same(d, Dev(eal, A));
        Assert.Equal([A], drv.Probed);
        Assert.Equal(bar0, d.Bar(0).Pointer);
        Assert.Equal(DeviceState.Probed, d.State);
    }

    [Fact]
    public void HotplugRemoveTwiceIsAnError()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var drv = new SimulatedDriver("edu");
        eal.Pci().RegisterDriver(drv);
        eal.HotplugAdd("pci", A);
        eal.HotplugRemove("pci", A);

        var e = Assert.Throws<HotplugException>(() => eal.HotplugRemove("pci", A));
        Assert.IsType<HotplugException>(e);
        Assert.Contains("not attached", e.Message);
        Assert.Equal([A], drv.Removed);
    }

    [Fact]
    public void HotplugRemoveOfASurpriseRemovedDeviceDetachesAndForgetsIt()
    {
        var sim = _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        var drv = new SimulatedDriver("edu");
        eal.Pci().RegisterDriver(drv);
        var d = (PciDevice)eal.HotplugAdd("pci", A);

        sim.Remove();
        Assert.Equal([A], eal.Scan().Removed);
        Assert.Empty(eal.Scan().Removed); // reported once, though it stays listed until detached
        Assert.Same(d, eal.Pci().FindDevice(A));
        Assert.Equal(DeviceState.Removed, d.State);
        Assert.True(d.Bar(0).IsRemapped);
        Assert.Equal(0xFFFFFFFFu, d.Bar(0).Read32(0)); // dead memory, no SIGBUS

        eal.HotplugRemove("pci", A);
        Assert.Equal([A], drv.Removed);
        Assert.Null(eal.Pci().FindDevice(A));
        Assert.Throws<DeviceNotFoundException>(() => eal.HotplugRemove("pci", A));
    }

    [Fact]
    public void HotUnplugHandlerOfAnotherBussDeviceIsNotMine()
    {
        _sim.AddDevice(A, 0x1234, 0x11e8, [1 << 20]);
        using var eal = NewEal();
        eal.Pci().RegisterDriver(new SimulatedDriver("edu"));
        var d = (PciDevice)eal.HotplugAdd("pci", A);

        Assert.False(eal.Pci().HotUnplugHandler(new ForeignDevice(eal.Pci())).Handled); // no cast exception, no effect
        Assert.Equal(DeviceState.Probed, d.State);
        Assert.False(d.Bar(0).IsRemapped);
    }

    private sealed class ForeignDevice(IBus bus) : Device(bus, "foreign");

    private sealed class OutputProvider(ITestOutputHelper output) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new TestOutputLogger(output);
        public void Dispose() { }
    }
}
