using Hotplug.Uevents;

namespace Hotplug.Pci;

/// <summary>
/// Which uevents are PCI device events: <c>pci</c> add/remove (any device, named by PCI_SLOT_NAME), and
/// for devices the bus knows, the earlier <c>uio</c> and <c>vfio-dev</c> removes (the PCI address is the
/// devpath component that owns the node) and the <c>vfio</c> group remove (by iommu group); <c>pci</c> bind to
/// uio_pci_generic, igb_uio or vfio-pci is BOUND (attachable now).
/// </summary>
internal static class PciUeventMap
{
    public static bool TryMap(Uevent ev, PciBus bus, out string? deviceName, out DeviceEventType type)
    {
        deviceName = null;
        type = ev.Action switch
        {
            UeventAction.Add => DeviceEventType.Add,
            UeventAction.Bind => DeviceEventType.Bound,
            _ => DeviceEventType.Remove,
        };
        if (ev.Action == UeventAction.Bind)
        {
            if (ev.Subsystem != "pci" || SysfsPciScanner.Classify(ev["DRIVER"]) is PciKernelDriver.None or PciKernelDriver.Other)
                return false;
        }
        else if (ev.Action is not (UeventAction.Add or UeventAction.Remove))
        {
            return false;
        }
        switch (ev.Subsystem)
        {
            case "pci":
                if (ev["PCI_SLOT_NAME"] is { } slot && PciAddress.TryParse(slot, out var a))
                    deviceName = a.ToString();
                else if (OwnerAddress(ev.DevPath) is { } fromPath)
                    deviceName = fromPath.ToString();
                return deviceName is not null;
            case "uio" or "vfio-dev" when ev.Action == UeventAction.Remove:
                if (OwnerAddress(ev.DevPath) is { } owner && bus.Find(owner) is not null)
                    deviceName = owner.ToString();
                return deviceName is not null;
            case "vfio" when ev.Action == UeventAction.Remove:
                string group = ev.DevPath[(ev.DevPath.LastIndexOf('/') + 1)..];
                if (group.StartsWith("noiommu-", StringComparison.Ordinal))
                    group = group["noiommu-".Length..];
                deviceName = bus.PciDevices.FirstOrDefault(d => d.Info.IommuGroup?.ToString(System.Globalization.CultureInfo.InvariantCulture) == group
                    && d.Info.KernelDriver == PciKernelDriver.VfioPci)?.Name;
                return deviceName is not null;
            default:
                return false;
        }
    }

    /// <summary>
    /// The last PCI address component of a devpath (<c>.../0000:01:00.0/uio/uio0</c> → 0000:01:00.0; behind an
    /// Intel VMD, <c>.../0000:00:0e.0/pci10000:00/10000:00:02.0/10000:01:00.0/uio/uio0</c> → 10000:01:00.0).
    /// </summary>
    private static PciAddress? OwnerAddress(string devPath)
    {
        var parts = devPath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        PciAddress? found = null;
        foreach (string p in parts)
        {
            // Only components in the kernel's canonical form, whatever the domain's width: root buses
            // (pci0000:00) do not parse, and short forms (01:00.0) are not the kernel's.
            if (PciAddress.TryParse(p, out var a) && p == a.ToString())
                found = a;
        }
        return found;
    }
}
