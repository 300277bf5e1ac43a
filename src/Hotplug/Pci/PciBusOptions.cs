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

    /// <summary>On a kernel ADD of an allow-listed device, scan and probe it (off by default; needs a non-empty <see cref="AllowList"/>).</summary>
    public bool AutoProbeOnAdd { get; init; }
}
