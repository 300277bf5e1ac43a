using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;

namespace Hotplug.Tests.Pci;

/// <summary>The allow and block lists of <see cref="PciBusOptions"/>. On simulated devices.</summary>
public sealed class PciAllowBlockListTests(ITestOutputHelper output) : PciBusTestBase(output)
{
    [Fact]
    public void Only_allow_listed_devices_are_probed()
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
    public void Block_listed_devices_are_never_probed()
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
    public void A_bad_address_in_the_lists_is_rejected_up_front()
    {
        Assert.Contains("expected DDDD:BB:DD.F", Assert.Throws<FormatException>(() => new PciBus(ListOptions(allow: ["not-an-address"]))).Message);
        Assert.Contains("function 9 exceeds 7", Assert.Throws<FormatException>(() => new PciBus(ListOptions(block: ["0000:01:00.9"]))).Message);
    }
}
