using System.Runtime.InteropServices;

namespace Hotplug.Interop;

/// <summary>The kernel's <c>struct sockaddr_nl</c> (linux/netlink.h); Tmds.LibC does not define it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SockaddrNl
{
    /// <summary><c>AF_NETLINK</c>.</summary>
    public ushort nl_family;

    /// <summary>Zero.</summary>
    public ushort nl_pad;

    /// <summary>Port id: 0 is the kernel; on bind, 0 asks the kernel to assign one.</summary>
    public uint nl_pid;

    /// <summary>Multicast group mask.</summary>
    public uint nl_groups;
}
