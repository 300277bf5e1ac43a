namespace Hotplug;

/// <summary>Which signal told us first.</summary>
public enum DeviceEventSource
{
    /// <summary>A kernel uevent on the netlink socket.</summary>
    Uevent,
    /// <summary>The device's <c>/dev/uioN</c> reported an error or hang-up.</summary>
    Uio,
    /// <summary>A SIGBUS on one of the device's mapped BARs.</summary>
    Sigbus,
    /// <summary>vfio-pci asked us to release the device.</summary>
    VfioRequest,
    /// <summary>A bus rescan found the device added or gone.</summary>
    Scan,
    /// <summary>
    /// Not a signal: the device was already there when a subscription asked for the devices present
    /// (<c>reportPresent: true</c>); its ADD carries the attachment's generation if it is attached.
    /// </summary>
    Present,
}
