namespace Hotplug;

/// <summary>What happened to a device (DPDK's RTE_DEV_EVENT_ADD / REMOVE, plus the moment it can be attached).</summary>
public enum DeviceEventType
{
    /// <summary>A device appeared (for PCI: the kernel's <c>add</c>, before any driver is bound).</summary>
    Add,
    /// <summary>A device went away, or failed in a way that means it is gone.</summary>
    Remove,
    /// <summary>
    /// The device is bound to a kernel driver the bus can attach through (for PCI: uio_pci_generic, igb_uio or
    /// vfio-pci): <see cref="Eal.HotplugAdd"/> works from now on. Apps that do not use auto-attach wait for this,
    /// not for <see cref="Add"/>.
    /// </summary>
    Bound,
}
