using Hotplug.Pci;

namespace Hotplug.Hosting;

/// <summary>How <see cref="HotplugServiceCollectionExtensions.AddHotplug"/> sets up the <see cref="Eal"/> and its start.</summary>
public sealed class HotplugOptions
{
    /// <summary>Enable hotplug handling at start (the SIGBUS shim; REMOVE uevents remap BARs). Default true.</summary>
    public bool EnableHandling { get; set; } = true;

    /// <summary>Start the uevent monitor at start. Default true; <see cref="HotplugPciOptions.AutoAttach"/> needs it.</summary>
    public bool StartMonitor { get; set; } = true;

    /// <summary>After the first scan, attach the registered drivers to every device they match (<see cref="Eal.Probe"/>). Default true.</summary>
    public bool ProbeOnStart { get; set; } = true;

    /// <summary>Receive buffer asked for the uevent socket (<see cref="EalOptions.UeventReceiveBufferBytes"/>).</summary>
    public int UeventReceiveBufferBytes { get; set; } = 1 << 20;

    /// <summary>
    /// The CPUs the event thread may run on (<see cref="EalOptions.EventThreadCpus"/>): keep it off the CPUs the data
    /// path spins on. Empty (the default): the process's own.
    /// </summary>
    public IList<int> EventThreadCpus { get; set; } = [];

    /// <summary>The PCI bus.</summary>
    public HotplugPciOptions Pci { get; set; } = new();
}

/// <summary>The PCI bus of <see cref="HotplugOptions"/>: the settable form of <see cref="PciBusOptions"/>.</summary>
public sealed class HotplugPciOptions
{
    /// <summary>Register the PCI bus. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The directory of PCI functions; null: <see cref="PciBusOptions.SysfsRoot"/>'s default (<c>/sys/bus/pci/devices</c>).</summary>
    public string? SysfsRoot { get; set; }

    /// <summary>Where device nodes are; null: <see cref="PciBusOptions.DevRoot"/>'s default (<c>/dev</c>).</summary>
    public string? DevRoot { get; set; }

    /// <summary>If not empty, only these addresses (<c>DDDD:BB:DD.F</c>) are probed.</summary>
    public IList<string> AllowList { get; set; } = [];

    /// <summary>These addresses are never probed.</summary>
    public IList<string> BlockList { get; set; } = [];

    /// <summary>Attach allow-listed devices by themselves when the kernel adds them back (<see cref="PciBusOptions.AutoProbeOnAdd"/>).</summary>
    public bool AutoAttach { get; set; }

    /// <summary>With <see cref="AutoAttach"/>: bind re-added devices to this kernel driver (<c>vfio-pci</c>, <c>uio_pci_generic</c>, <c>igb_uio</c>).</summary>
    public string? BindOnAdd { get; set; }

    /// <summary>What a BAR reads as after its device is gone.</summary>
    public BarFill Fill { get; set; } = BarFill.AllOnes;

    /// <summary>Map uio devices through <c>/dev/uioN</c> (<see cref="PciBusOptions.MapUioThroughDevNode"/>).</summary>
    public bool MapUioThroughDevNode { get; set; }

    /// <summary>The bus options these settings make.</summary>
    public PciBusOptions ToBusOptions()
    {
        var defaults = new PciBusOptions();
        return new PciBusOptions
        {
            SysfsRoot = SysfsRoot ?? defaults.SysfsRoot,
            DevRoot = DevRoot ?? defaults.DevRoot,
            AllowList = [.. AllowList],
            BlockList = [.. BlockList],
            AutoProbeOnAdd = AutoAttach,
            BindOnAdd = BindOnAdd,
            RemapFill = Fill,
            MapUioThroughDevNode = MapUioThroughDevNode,
        };
    }
}
