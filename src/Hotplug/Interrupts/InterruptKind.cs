namespace Hotplug.Interrupts;

/// <summary>The mechanism behind an <see cref="InterruptVector"/>.</summary>
public enum InterruptKind
{
    /// <summary>MSI-X through vfio: one eventfd per vector, edge-like, no re-arm needed.</summary>
    MsiX,

    /// <summary>MSI through vfio: one eventfd per vector, edge-like, no re-arm needed.</summary>
    Msi,

    /// <summary>
    /// Legacy INTx through vfio: one vector, masked by the kernel when it fires. Ack the device, then call
    /// <see cref="InterruptVector.Acknowledge"/> to unmask it, or no further interrupt arrives.
    /// </summary>
    Intx,

    /// <summary>
    /// INTx through uio (<c>/dev/uioN</c>): one vector. <see cref="InterruptVector.Acknowledge"/> re-arms it
    /// (igb_uio: a write of 1 to the node; uio_pci_generic: clearing INTx-disable in COMMAND).
    /// </summary>
    Uio,
}
