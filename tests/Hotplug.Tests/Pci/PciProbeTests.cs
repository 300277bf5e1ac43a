using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;

namespace Hotplug.Tests.Pci;

/// <summary>Probe: driver matching by id table, declining and throwing drivers, devices that must never be mapped. On simulated devices.</summary>
public sealed class PciProbeTests(ITestOutputHelper output) : PciBusTestBase(output)
{
    [Fact]
    public void Probing_twice_never_calls_the_driver_twice_nor_remaps()
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
    public void Probe_matches_the_id_table()
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
    public void A_driver_that_declines_lets_the_next_one_try()
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
    public void When_every_driver_declines_the_device_stays_parsed_and_unmapped()
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
    public void A_driver_that_throws_has_its_mapping_undone()
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
    public void A_driver_that_throws_a_hotplug_exception_also_has_its_mapping_undone()
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
    public void A_device_with_no_kernel_driver_is_listed_but_never_mapped()
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
    public void A_device_on_a_kernel_driver_is_never_mapped()
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
}
