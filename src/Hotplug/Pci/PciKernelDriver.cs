namespace Hotplug.Pci;

/// <summary>The kernel driver a PCI device is bound to, as far as Hotplug cares.</summary>
public enum PciKernelDriver
{
    /// <summary>No driver: the device is listed but never mapped.</summary>
    None,
    /// <summary><c>uio_pci_generic</c>: BARs through sysfs <c>resourceN</c>.</summary>
    UioPciGeneric,
    /// <summary><c>igb_uio</c> (DPDK's out-of-tree module): BARs through sysfs or <c>/dev/uioN</c>.</summary>
    IgbUio,
    /// <summary><c>vfio-pci</c>: BARs through the vfio device fd.</summary>
    VfioPci,
    /// <summary>Any other (kernel) driver: the device belongs to the kernel.</summary>
    Other,
}
