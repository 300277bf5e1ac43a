namespace Hotplug.Pci;

/// <summary>How the PCI bus reads sysfs and maps devices.</summary>
public sealed class PciBusOptions
{
    /// <summary>Environment variable that overrides the default <see cref="SysfsRoot"/>.</summary>
    public const string SysfsRootVariable = "HOTPLUG_SYSFS_PCI_DEVICES";

    /// <summary>Environment variable that overrides the default <see cref="DevRoot"/>.</summary>
    public const string DevRootVariable = "HOTPLUG_DEV_ROOT";

    /// <summary>The directory of PCI functions: <c>/sys/bus/pci/devices</c> unless <c>HOTPLUG_SYSFS_PCI_DEVICES</c> says otherwise.</summary>
    public string SysfsRoot { get; init; } = Environment.GetEnvironmentVariable(SysfsRootVariable) is { Length: > 0 } r ? r : "/sys/bus/pci/devices";

    /// <summary>Where device nodes are (<c>uioN</c>, <c>vfio/N</c>): <c>/dev</c> unless <c>HOTPLUG_DEV_ROOT</c> says otherwise.</summary>
    public string DevRoot { get; init; } = Environment.GetEnvironmentVariable(DevRootVariable) is { Length: > 0 } r ? r : "/dev";

    /// <summary>If not empty, only these addresses are probed (it survives unplug: a re-plugged device is probed again).</summary>
    public IReadOnlyCollection<string> AllowList { get; init; } = [];

    /// <summary>These addresses are never probed.</summary>
    public IReadOnlyCollection<string> BlockList { get; init; } = [];

    /// <summary>What a BAR reads as after its device is gone.</summary>
    public BarFill RemapFill { get; init; } = BarFill.AllOnes;

    /// <summary>Map uio devices through <c>/dev/uioN</c> maps instead of sysfs <c>resourceN</c> (igb_uio exposes both).</summary>
    public bool MapUioThroughDevNode { get; init; }

    /// <summary>
    /// Attach allow-listed devices by themselves when the kernel adds them back, as soon as a uio or vfio
    /// driver is bound (off by default; needs a non-empty <see cref="AllowList"/>, which survives unplug).
    /// </summary>
    public bool AutoProbeOnAdd { get; init; }

    /// <summary>
    /// With <see cref="AutoProbeOnAdd"/>: the kernel driver (<c>vfio-pci</c>, <c>uio_pci_generic</c>,
    /// <c>igb_uio</c>) to bind an allow-listed device to when the kernel adds it, by writing its
    /// <c>driver_override</c> and the bus's <c>drivers_probe</c> next to <see cref="SysfsRoot"/>. Null (the
    /// default): binding is left to the system (udev rules, an operator). This is the only place the
    /// library writes to sysfs, and only for allow-listed devices.
    /// </summary>
    public string? BindOnAdd { get; init; }
}
