using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hotplug;
using Hotplug.Pci;
using Hotplug.VmAgent;

// hotplug-vm-agent COMMAND [ARGS]: the guest side of the Vm tier. Every result is a JSON line on stdout.
//   hello             runtime facts (proves the NativeAOT binary runs in the guest)
//   scan              scans the PCI bus through Hotplug and lists the functions
//   edu-read BDF      probes the edu device at BDF with EduDriver and reads BAR0 register 0x00 and 0x04
//   hotplug BDF KDRV N [edu|e1000]  attach, data path (edu BAR poller or 82540EM receive bursts), and live through N removals (host device_del or guest sysfs
//                       remove) each followed by an ADD (device_add or rescan)
//   sigbus BDF N      vfio: clear Memory Space Enable under a running data path (a real kernel SIGBUS), detach, re-attach; N rounds
//   slow-probe BDF PROBE_MS WAIT_MS uevents|no-uevents
//                     HotplugAdd through a driver whose Probe sleeps PROBE_MS (the host removes the device meanwhile);
//                     after an attach, wait up to WAIT_MS for its REMOVE; with or without the uevent monitor (SlowProbeScenario)
//   fork BDF MODE CHILD_MS WAIT_MS
//                     vfio: attach, then a raw fork(); the child lets go of what MODE says, sleeps CHILD_MS, _exits (ForkScenario)
//   dma BDF CYCLES irq|intx|poll  DMA round trips with interrupts, device_del with them in flight, re-attach at the same IOVAs (DmaScenario)
//   nvme BDF [CYCLES] the NVMe driver: identify, bad input, verified I/O from 2 queue pairs, CYCLES x (device_del under I/O, re-attach) (NvmeScenario)
//   e1000 BDF_A BDF_B FRAMES [remove]  two 82540EM NICs on one QEMU hub: frames A->B and B->A verified; with remove,
//                     the host pulls B under traffic (E1000Scenario)
//   e1000-fwd BDF_A BDF_B SECONDS INFLIGHT  forwarding rate: A's receive bursts into B's transmit bursts, frames circulating on the hub
//   nvme-bench BDF LAT_N IOPS_MS QD MAX_MS POST_MS
//                     the NVMe peer benchmark's side of ours: QD1 latency, QD IOPS, a removal run in per-ms buckets (NvmeBenchScenario)
//   failsafe PRIMARY STANDBY SECONDS [mbb] [settle=MS]
//                     a FailSafeGroup over two e1000 ports receiving hpsend's frames across device_del / device_add
//                     (FailSafeScenario; mbb: keep polling the previous port after a switch-back until the new one delivers;
//                     settle=MS: the group's switch-back settle time)
//   status | bind DRIVER BDF [force] | unbind BDF [force]
//                     the CLI's dpdk-devbind verbs on the same library class, PciDriverControl (DevbindScenario)
try
{
    string command = args.Length > 0 ? args[0] : "hello";
    int rc = command switch
    {
        "hello" => Hello(),
        "scan" => Scan(),
        "edu-read" when args.Length == 2 => EduRead(args[1]),
        "hotplug" when args.Length is 4 or 5 => new HotplugLoop(args[1], args[2], int.Parse(args[3]), args.Length == 5 ? args[4] : "edu").Run(),
        "sigbus" when args.Length == 3 => SigbusScenario.Run(args[1], int.Parse(args[2])),
        "slow-probe" when args.Length == 5 => SlowProbeScenario.Run(args[1], int.Parse(args[2]), int.Parse(args[3]), args[4]),
        "fork" when args.Length == 5 => ForkScenario.Run(args[1], args[2], int.Parse(args[3]), int.Parse(args[4])),
        "dma" when args.Length == 4 => DmaScenario.Run(args[1], int.Parse(args[2]), args[3]),
        "nvme" when args.Length is 2 or 3 => NvmeScenario.Run(args[1], args.Length == 3 ? int.Parse(args[2]) : 1),
        "e1000-fwd" when args.Length == 5 => E1000ForwardScenario.Run(args[1], args[2], int.Parse(args[3]), int.Parse(args[4])),
        "e1000" when args.Length is 4 or 5 => E1000Scenario.Run(args[1], args[2], int.Parse(args[3]), args.Length == 5 && args[4] == "remove"),
        "nvme-bench" when args.Length == 7 => NvmeBenchScenario.Run(args[1], int.Parse(args[2]), int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]), int.Parse(args[6])),
        "failsafe" when args.Length is >= 4 and <= 6 => FailSafeScenario.Run(args[1], args[2], double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture), args[4..]),
        "status" when args.Length == 1 => DevbindScenario.Status(),
        "bind" when args.Length is 3 or 4 => DevbindScenario.Change(args[1], args[2], args.Length == 4 && args[3] == "force"),
        "unbind" when args.Length is 2 or 3 => DevbindScenario.Change(null, args[1], args.Length == 3 && args[2] == "force"),
        _ => Usage(),
    };
    Report.Emit("exit", w => w.WriteNumber("rc", rc));
    return rc;
}
catch (Exception e)
{
    Report.Error("unhandled exception", e);
    return 1;
}

static int Usage()
{
    Report.Error("usage: hotplug-vm-agent hello | scan | edu-read BDF | hotplug BDF KERNEL_DRIVER CYCLES [edu|e1000] | sigbus BDF ROUNDS | slow-probe BDF PROBE_MS WAIT_MS uevents|no-uevents | fork BDF MODE CHILD_MS WAIT_MS | dma BDF CYCLES irq|intx|poll | nvme BDF [CYCLES] | nvme-bench BDF LAT_N IOPS_MS QD MAX_MS POST_MS | e1000 BDF_A BDF_B FRAMES [remove] | e1000-fwd BDF_A BDF_B SECONDS INFLIGHT | failsafe PRIMARY STANDBY SECONDS [mbb] [settle=MS] | status | bind DRIVER BDF [force] | unbind BDF [force]");
    return 2;
}

static int Hello()
{
    Report.Emit("hello", w =>
    {
        w.WriteBoolean("aot", !RuntimeFeature.IsDynamicCodeSupported);
        w.WriteString("framework", RuntimeInformation.FrameworkDescription);
        w.WriteString("os", RuntimeInformation.OSDescription);
        w.WriteNumber("pid", Environment.ProcessId);
        w.WriteNumber("cpus", Environment.ProcessorCount);
    });
    return 0;
}

static int Scan()
{
    using var eal = PciEal.Create();
    var result = eal.Scan();
    foreach (var d in eal.Pci().PciDevices)
        Report.Emit("pci", w =>
        {
            w.WriteString("dev", d.Name);
            w.WriteString("ids", $"{d.Info.VendorId:x4}:{d.Info.DeviceId:x4}");
            w.WriteString("kdrv", d.Info.KernelDriverName ?? "");
        });
    Report.Emit("scan", w =>
    {
        w.WriteNumber("added", result.Added.Count);
        w.WriteNumber("errors", result.Errors.Count);
    });
    return result.Errors.Count == 0 ? 0 : 1;
}

static int EduRead(string bdf)
{
    using var eal = PciEal.Create(new PciBusOptions { AllowList = [bdf] });
    var driver = new EduDriver();
    eal.Pci().RegisterDriver(driver);
    eal.Scan();
    int probed = eal.Probe();
    var dev = driver.Device;
    if (dev == null)
    {
        Report.Error($"edu at {bdf} was not probed (probe returned {probed})");
        return 1;
    }
    var bar = dev.Bar(0);
    uint id = bar.Read32(0);
    bar.Write32(4, 0x12345678);
    uint inv = bar.Read32(4);
    Report.Emit("edu", w =>
    {
        w.WriteString("dev", dev.Name);
        w.WriteString("kind", bar.Kind.ToString());
        w.WriteString("id", $"0x{id:x8}");
        w.WriteString("inv", $"0x{inv:x8}");
    });
    return id == EduDriver.Identification && inv == ~0x12345678u ? 0 : 1;
}
