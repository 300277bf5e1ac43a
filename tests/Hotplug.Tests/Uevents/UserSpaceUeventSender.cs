using Hotplug.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Tests.Uevents;

/// <summary>
/// A user-space NETLINK_KOBJECT_UEVENT socket that forges uevent datagrams, to prove the monitor ignores them.
/// It only sends unicast to a given port id: multicasting a forgery to group 1 would reach every uevent
/// listener on the host (other test runs, udev).
/// </summary>
internal sealed unsafe class UserSpaceUeventSender : IDisposable
{
    private readonly SafeFdHandle _handle;

    public UserSpaceUeventSender()
    {
        int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NetlinkConstants.NETLINK_KOBJECT_UEVENT);
        if (fd < 0)
            throw Sys.IoError("socket");
        _handle = new SafeFdHandle(fd);
        var self = new SockaddrNl { nl_family = (ushort)(int)AF_NETLINK }; // port 0: kernel assigns one, no groups
        if (bind(fd, (sockaddr*)&self, sizeof(SockaddrNl)) != 0)
            throw Sys.IoError("bind");
        SockaddrNl bound = default;
        socklen_t len = sizeof(SockaddrNl);
        if (getsockname(fd, (sockaddr*)&bound, &len) != 0)
            throw Sys.IoError("getsockname");
        PortId = bound.nl_pid;
    }

    /// <summary>This sender's own port id (never 0).</summary>
    public uint PortId { get; }

    public void SendTo(uint portId, ReadOnlySpan<byte> datagram)
    {
        var to = new SockaddrNl { nl_family = (ushort)(int)AF_NETLINK, nl_pid = portId, nl_groups = 0 };
        fixed (byte* p = datagram)
        {
            long n = sendto(_handle.Fd, p, datagram.Length, 0, (sockaddr*)&to, sizeof(SockaddrNl));
            if (n != datagram.Length)
                throw Sys.IoError($"sendto(port {portId})");
        }
    }

    public void Dispose() => _handle.Dispose();
}
