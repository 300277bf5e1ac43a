using Hotplug;
using Hotplug.Uevents;
using Hotplug.Pci;
using Hotplug.Tests.Uevents;
using Hotplug.Testing;
using Hotplug.Tests.Support;
using static Tmds.Linux.LibC;

namespace Hotplug.Tests.Core;

/// <summary>Each removal source ends in the same HotUnplugHandler and exactly one REMOVE.</summary>
public class RemovalSourceTests(ITestOutputHelper output)
{
    [Fact]
    public void The_uio_node_hanging_up_is_a_remove_before_any_access_and_the_bars_are_already_dead()
    {
        using var rig = new SimulatedRig(output);
        rig.Device.Remove(); // no BAR access at all

        var e = rig.WaitRemove();

        Assert.Equal(DeviceEventSource.Uio, e.Source);
        Assert.True(rig.Bar0.IsRemapped);
        Assert.Equal(0xFFFFFFFFu, rig.Bar0.Read32(0)); // no fault: already remapped
        Assert.Equal(DeviceState.Removed, rig.Pci.State);
    }

    [Fact]
    public unsafe void A_vfio_request_on_a_real_eventfd_removes_once_even_when_repeated()
    {
        using var rig = new SimulatedRig(output);
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        Assert.True(efd >= 0);
        try
        {
            using var watch = rig.Eal.Pci().WatchRequestEventFd(rig.Pci, efd);
            ulong one = 1;
            write(efd, &one, 8);
            var e = rig.WaitRemove();
            Assert.Equal(DeviceEventSource.VfioRequest, e.Source);
            Assert.True(rig.Bar0.IsRemapped);

            write(efd, &one, 8); // the kernel repeats the request every 10 s until released
            rig.Settle();
            Assert.Single(rig.Snapshot(), x => x.Type == DeviceEventType.Remove);
        }
        finally
        {
            close(efd);
        }
    }

    [Fact]
    public void Sigbus_uio_uevent_and_rescan_of_one_removal_make_exactly_one_remove()
    {
        using var rig = new SimulatedRig(output);
        rig.Device.Remove();
        _ = rig.Bar0.Read32(0);
        rig.WaitRemove();
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(KernelUeventSamples.PciRemove), out var pciRemove, out _));
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(KernelUeventSamples.UioRemove), out var uioRemove, out _));
        rig.Eal.InjectUevent(uioRemove!);
        rig.Eal.InjectUevent(pciRemove!);
        var scan = rig.Eal.Scan();
        rig.Settle();

        Assert.Contains(SimulatedRig.Address, scan.Removed);
        Assert.Single(rig.Snapshot(), x => x.Type == DeviceEventType.Remove);
    }

    [Fact]
    public void A_kernel_pci_remove_uevent_remaps_an_attached_device_when_handling_is_enabled()
    {
        using var rig = new SimulatedRig(output);
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(KernelUeventSamples.PciRemove), out var ev, out _));
        rig.Eal.InjectUevent(ev!);
        var e = rig.WaitRemove();
        Assert.Equal(DeviceEventSource.Uevent, e.Source);
        Assert.True(rig.Bar0.IsRemapped);
        Assert.Equal(0xFFFFFFFFu, rig.Bar0.Read32(0));
    }

    [Fact]
    public void Without_hotplug_handling_a_remove_uevent_is_reported_but_the_mapping_is_left_alone()
    {
        using var rig = new SimulatedRig(output, enable: false);
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(KernelUeventSamples.PciRemove), out var ev, out _));
        rig.Eal.InjectUevent(ev!);
        Assert.Equal(DeviceEventSource.Uevent, rig.WaitRemove().Source);
        Assert.False(rig.Bar0.IsRemapped);
        Assert.Equal(0x010000edu, rig.Bar0.Read32(0));
    }

    [Fact]
    public void An_add_uevent_after_detach_is_reported_and_the_device_can_be_attached_again()
    {
        using var rig = new SimulatedRig(output);
        rig.Device.Remove();
        rig.WaitRemove();
        rig.Eal.HotplugRemove("pci", SimulatedRig.Address);
        var again = rig.Sim.AddDevice(SimulatedRig.Address, 0x1234, 0x11e8, [1UL << 20]);
        again.WriteRegister32(0, 0, 0x010000ed);
        string add = KernelUeventSamples.PciRemove.Replace("remove@", "add@").Replace("ACTION=remove", "ACTION=add");
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(add), out var ev, out _));
        var added = new SemaphoreSlim(0);
        rig.Eal.DeviceEvents.Register(SimulatedRig.Address, e => { if (e.Type == DeviceEventType.Add) added.Release(); });

        rig.Eal.InjectUevent(ev!);

        Assert.True(added.Wait(TimeSpan.FromSeconds(10)));
        var pci = (PciDevice)rig.Eal.HotplugAdd("pci", SimulatedRig.Address);
        Assert.Equal(0x010000edu, pci.Bar(0).Read32(0));
        Assert.Equal(2, rig.Driver.ProbeCalls);
    }

    [Fact]
    public void Auto_probe_on_add_attaches_an_allow_listed_device()
    {
        using var sim = Testing.SimulatedPciBus.Create();
        var dev = sim.AddDevice("0000:03:00.0", 0x1234, 0x11e8, [1UL << 16]);
        var options = sim.CreateOptions();
        using var eal = PciEal.Create(new PciBusOptions { SysfsRoot = options.SysfsRoot, DevRoot = options.DevRoot, AllowList = ["03:00.0"], AutoProbeOnAdd = true });
        var driver = new SimulatedDriver("test-driver", new PciId(0x1234, 0x11e8));
        eal.Pci().RegisterDriver(driver);
        string add = KernelUeventSamples.PciRemove.Replace("remove@", "add@").Replace("ACTION=remove", "ACTION=add").Replace("0000:01:00.0", "0000:03:00.0");
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(add), out var ev, out _));
        eal.InjectUevent(ev!);
        eal.FlushEventThread();
        Assert.Equal(1, driver.ProbeCalls);
        Assert.Equal(DeviceState.Probed, eal.Pci().Find(PciAddress.Parse("0000:03:00.0"))!.State);
    }

    [Fact]
    public void Bind_on_add_asks_the_kernel_to_bind_in_the_configured_tree_and_attaches_on_the_kernels_bind()
    {
        using var sim = Testing.SimulatedPciBus.Create();
        var dev = sim.AddDevice("0000:03:00.0", 0x1234, 0x11e8, [1UL << 16], kernelDriver: null);
        using var eal = PciEal.Create(new PciBusOptions
            {
                SysfsRoot = sim.SysfsRoot, DevRoot = sim.DevRoot, AllowList = ["0000:03:00.0"], AutoProbeOnAdd = true, BindOnAdd = "uio_pci_generic",
            });
        var driver = new SimulatedDriver("test-driver", new PciId(0x1234, 0x11e8));
        eal.Pci().RegisterDriver(driver);

        eal.InjectUevent(PciUevent("add", "0000:03:00.0"));
        eal.FlushEventThread();

        Assert.Equal("uio_pci_generic", File.ReadAllText(Path.Combine(sim.SysfsRoot, "0000:03:00.0", "driver_override")));
        Assert.Equal("0000:03:00.0", File.ReadAllText(Path.Combine(sim.SysfsRoot, "..", "drivers_probe")));
        Assert.Equal(0, driver.ProbeCalls); // no uio driver bound yet: nothing to map

        dev.BindKernelDriver("uio_pci_generic"); // what the kernel does after drivers_probe
        eal.InjectUevent(PciUevent("bind", "0000:03:00.0", "DRIVER=uio_pci_generic"));
        eal.FlushEventThread();

        Assert.Equal(1, driver.ProbeCalls);
        Assert.Equal(DeviceState.Probed, eal.Pci().Find(PciAddress.Parse("0000:03:00.0"))!.State);

        eal.InjectUevent(PciUevent("bind", "0000:03:00.0", "DRIVER=uio_pci_generic")); // a repeat changes nothing
        eal.FlushEventThread();
        Assert.Equal(1, driver.ProbeCalls);
    }

    [Fact]
    public void Bind_on_add_probes_again_when_the_kernel_ignored_the_first_probe_of_the_new_function()
    {
        using var sim = Testing.SimulatedPciBus.Create();
        var dev = sim.AddDevice("0000:03:00.0", 0x1234, 0x11e8, [1UL << 16], kernelDriver: null);
        sim.LoadDrivers("uio_pci_generic");
        using var core = new Support.FakeDriverCore(sim) { IgnoreFirstProbes = 1 }; // drivers_autoprobe 0: nothing else binds it
        using var eal = PciEal.Create(new PciBusOptions
            {
                SysfsRoot = sim.SysfsRoot, DevRoot = sim.DevRoot, AllowList = ["0000:03:00.0"], AutoProbeOnAdd = true, BindOnAdd = "uio_pci_generic",
            });

        eal.InjectUevent(PciUevent("add", "0000:03:00.0"));

        Assert.True(SpinWait.SpinUntil(() => dev.KernelDriver is not null, TimeSpan.FromSeconds(5)),
            $"not bound; probes: {string.Join(", ", core.Probed)}");
        Assert.Equal("uio_pci_generic", dev.KernelDriver);
    }

    [Fact]
    public void A_device_not_on_the_allow_list_is_never_bound_or_probed_on_add()
    {
        using var sim = Testing.SimulatedPciBus.Create();
        sim.AddDevice("0000:03:00.0", 0x1234, 0x11e8, [1UL << 16], kernelDriver: null);
        using var eal = PciEal.Create(new PciBusOptions { SysfsRoot = sim.SysfsRoot, DevRoot = sim.DevRoot, AllowList = ["0000:04:00.0"], AutoProbeOnAdd = true, BindOnAdd = "vfio-pci" });
        eal.InjectUevent(PciUevent("add", "0000:03:00.0"));
        eal.FlushEventThread();
        Assert.Equal("(null)", File.ReadAllText(Path.Combine(sim.SysfsRoot, "0000:03:00.0", "driver_override")).Trim());
        Assert.False(File.Exists(Path.Combine(sim.SysfsRoot, "..", "drivers_probe")));
    }

    private static Uevent PciUevent(string action, string slot, params string[] extra)
    {
        string path = $"/devices/pci0000:00/0000:00:10.0/{slot}";
        string text = $"{action}@{path}\0ACTION={action}\0DEVPATH={path}\0SUBSYSTEM=pci\0{string.Concat(extra.Select(e => e + "\0"))}PCI_ID=1234:11E8\0PCI_SLOT_NAME={slot}\0SEQNUM=900\0";
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(text), out var ev, out string? error), error);
        return ev!;
    }
}
