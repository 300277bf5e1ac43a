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
}
