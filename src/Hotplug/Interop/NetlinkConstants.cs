namespace Hotplug.Interop;

/// <summary>Netlink constants missing from Tmds.LibC (values from linux/netlink.h and lib/kobject_uevent.c).</summary>
internal static class NetlinkConstants
{
    /// <summary>The netlink protocol that carries kernel uevents.</summary>
    public const int NETLINK_KOBJECT_UEVENT = 15;

    /// <summary>Group mask of the kernel's own uevent broadcasts (udev rebroadcasts on group 2; never bind it).</summary>
    public const uint UEVENT_GROUP_KERNEL = 1;
}
