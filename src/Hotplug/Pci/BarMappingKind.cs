namespace Hotplug.Pci;

/// <summary>Through which kernel interface a BAR was mapped.</summary>
public enum BarMappingKind
{
    /// <summary>sysfs <c>resourceN</c> (uio_pci_generic, igb_uio, and simulated devices).</summary>
    SysfsResource,
    /// <summary>A map of <c>/dev/uioN</c>.</summary>
    Uio,
    /// <summary>A region of a vfio device fd.</summary>
    Vfio,
}
