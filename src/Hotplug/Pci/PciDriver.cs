
namespace Hotplug.Pci;

/// <summary>
/// A user-space PCI driver (DPDK's <c>rte_pci_driver</c>): an id table, whether it needs the BARs
/// mapped before <see cref="Probe"/>, and the probe / remove pair.
/// </summary>
public abstract class PciDriver : Driver
{
    /// <summary>The devices this driver may take. Wildcards: <see cref="PciId.Any"/>, <see cref="PciId.AnyClass"/>.</summary>
    public abstract IReadOnlyList<PciId> Ids { get; }

    /// <summary>True (the default) to get the memory BARs mapped before <see cref="Probe"/> (DPDK's RTE_PCI_DRV_NEED_MAPPING).</summary>
    public virtual bool NeedsMapping => true;

    /// <summary>
    /// Takes the device. Return false to decline it ("not mine", the next matching driver is tried);
    /// throw to fail. Either way what was mapped for it is undone.
    /// </summary>
    public abstract bool Probe(PciDevice device);

    /// <summary>Lets go of the device (called on detach, also after it was removed). Must not touch the BARs after returning.</summary>
    public virtual void Remove(PciDevice device) { }

    /// <summary>
    /// The highest device address the device can reach (its DMA mask); DMA memory given to it stays at or below it.
    /// Default: 64 bits. QEMU's edu, for example, has 28.
    /// </summary>
    public virtual ulong DmaMask => ulong.MaxValue;

    /// <summary>
    /// vfio-pci asks for the device back while it still answers (a hypervisor's device_del, a sysfs remove): stop
    /// the device now (for NVMe, a controller shutdown) — its BARs still work here, interrupts are already off, and
    /// they become dead memory right after. Runs on the event thread before the REMOVE callbacks: keep it to a few
    /// milliseconds. Not called when the device is already gone (uio, SIGBUS). Exceptions are logged.
    /// </summary>
    public virtual void Quiesce(PciDevice device) { }

    /// <summary>True if the driver's id table matches the device.</summary>
    public bool Matches(PciDeviceInfo info) => Ids.Any(id => id.Matches(info));
}
