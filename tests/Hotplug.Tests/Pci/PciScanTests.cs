using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;

namespace Hotplug.Tests.Pci;

/// <summary>Scan and rescan of the PCI bus through an <see cref="Eal"/>: devices appearing, disappearing, changing and failing to parse. On simulated devices.</summary>
public sealed class PciScanTests(ITestOutputHelper output) : PciBusTestBase(output)
{
    [Fact]
    public void Scan_reports_devices_appearing_and_disappearing()
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
    public void Eal_publishes_add_and_remove_from_scan_after_the_first_scan_only()
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
    public void A_scan_error_is_reported_and_the_other_devices_are_found()
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
    public void A_reused_address_gets_the_new_ids_when_not_attached()
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
    public void An_attached_device_replaced_by_another_function_is_removed_and_the_new_one_is_read_after_detach()
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
    public void A_rescan_does_not_disturb_a_probed_devices_mapped_bars()
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
}
