using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;

namespace Hotplug.Tests.Pci;

/// <summary>Hotplug add and remove (attach and detach by name) of PCI devices, and their errors. On simulated devices.</summary>
public sealed class PciHotplugAddRemoveTests(ITestOutputHelper output) : PciBusTestBase(output)
{
    [Fact]
    public void Hotplug_add_attaches_without_a_scan_and_hotplug_remove_detaches()
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
    public void Hotplug_add_of_an_unknown_bus_is_bus_not_found()
    {
        using var eal = NewEal();
        var e = Assert.Throws<BusNotFoundException>(() => eal.HotplugAdd("usb", A));
        Assert.Equal("usb", e.BusName);
        Assert.Throws<BusNotFoundException>(() => eal.HotplugRemove("usb", A));
    }

    [Fact]
    public void Hotplug_add_of_an_unknown_device_is_device_not_found()
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
    public void Hotplug_add_of_a_bad_name_is_device_not_found(string name)
    {
        using var eal = NewEal();
        var e = Assert.Throws<DeviceNotFoundException>(() => eal.HotplugAdd("pci", name));
        Assert.Equal(name, e.DeviceName);
        Assert.Contains("not a valid device name", e.Message);
    }

    [Fact]
    public void Hotplug_add_of_a_device_that_left_since_the_scan_is_device_not_found()
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
    public void Hotplug_add_twice_is_an_error_and_leaves_the_first_attach_alone()
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
    public void Hotplug_remove_twice_is_an_error()
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
    public void Hotplug_remove_of_a_surprise_removed_device_detaches_and_forgets_it()
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
    public void Hot_unplug_handler_of_another_buss_device_is_not_mine()
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
}
