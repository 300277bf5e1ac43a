namespace Hotplug.Pci;

/// <summary>The one switch on the kernel driver (DPDK's <c>kdrv</c> switch): how a device is held.</summary>
internal static class PciAttachmentFactory
{
    /// <summary>The attachment for <paramref name="device"/>, or null with the reason when it cannot be held.</summary>
    public static PciAttachment? Create(PciDevice device, PciAttachContext context, Action<int> vfioReleaseCounter, out string? why)
    {
        why = null;
        var info = device.Info;
        switch (info.KernelDriver)
        {
            case PciKernelDriver.VfioPci:
                return new VfioAttachment(device, context, vfioReleaseCounter);
            case PciKernelDriver.UioPciGeneric or PciKernelDriver.IgbUio when info.UioName is not null:
                return new UioAttachment(device, context);
            case PciKernelDriver.UioPciGeneric or PciKernelDriver.IgbUio:
                return new SysfsResourceAttachment(device, context); // no uio node yet: uevents and SIGBUS still report removal
            case PciKernelDriver.None:
                why = "no kernel driver is bound (bind uio_pci_generic, igb_uio or vfio-pci); it is never mapped";
                return null;
            default:
                why = $"it belongs to the kernel driver {info.KernelDriverName}";
                return null;
        }
    }
}
