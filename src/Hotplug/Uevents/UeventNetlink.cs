using Hotplug.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Uevents;

/// <summary>
/// The system calls behind <see cref="UeventSocket"/>: opening a kernel-uevent netlink socket,
/// one non-blocking <c>recvmsg</c> with sender identification, and <c>poll</c>.
/// </summary>
internal static unsafe class UeventNetlink
{
    /// <summary>Control messages are aligned to <c>sizeof(long)</c> on Linux.</summary>
    private const int CmsgAlignment = 8;

    /// <summary>
    /// Opens <c>socket(AF_NETLINK, SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT)</c>, sizes its
    /// receive buffer, turns on <c>SO_PASSCRED</c> and binds it to the kernel's group only.
    /// </summary>
    /// <param name="requestedBufferBytes">The receive buffer to ask for (the kernel doubles it and applies a minimum).</param>
    /// <param name="obtainedBufferBytes">What <c>getsockopt(SO_RCVBUF)</c> reports afterwards.</param>
    /// <param name="bufferOption">Which option set the size.</param>
    /// <param name="portId">The port id the kernel assigned.</param>
    public static SafeFdHandle Open(int requestedBufferBytes, out int obtainedBufferBytes, out string bufferOption, out uint portId)
    {
        int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NetlinkConstants.NETLINK_KOBJECT_UEVENT);
        if (fd < 0)
            throw Sys.IoError("socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT)");
        var handle = new SafeFdHandle(fd);
        try
        {
            bufferOption = SetReceiveBuffer(fd, requestedBufferBytes);
            obtainedBufferBytes = GetIntOption(fd, SO_RCVBUF, "SO_RCVBUF");
            int one = 1;
            if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(int)) != 0)
                throw Sys.IoError("setsockopt(SO_PASSCRED)");

            var address = new SockaddrNl
            {
                nl_family = (ushort)(int)AF_NETLINK,
                nl_pid = 0, // let the kernel assign our port id
                nl_groups = NetlinkConstants.UEVENT_GROUP_KERNEL,
            };
            if (bind(fd, (sockaddr*)&address, sizeof(SockaddrNl)) != 0)
                throw Sys.IoError("bind(AF_NETLINK, group 1)");

            SockaddrNl bound = default;
            socklen_t length = sizeof(SockaddrNl);
            if (getsockname(fd, (sockaddr*)&bound, &length) != 0)
                throw Sys.IoError("getsockname(AF_NETLINK)");
            portId = bound.nl_pid;
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads one datagram without blocking. Retries on <c>EINTR</c>; throws on errors other than
    /// <c>EAGAIN</c> and <c>ENOBUFS</c>, and <see cref="ObjectDisposedException"/> if the handle is closed.
    /// </summary>
    public static NetlinkReceiveStatus Receive(SafeFdHandle handle, Span<byte> data, Span<byte> control, out int length, out NetlinkSender sender)
    {
        length = 0;
        sender = default;
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            fixed (byte* dataPtr = data)
            fixed (byte* controlPtr = control)
            {
                while (true)
                {
                    SockaddrNl from = default;
                    iovec iov = default;
                    iov.iov_base = dataPtr;
                    iov.iov_len = data.Length;
                    msghdr msg = default;
                    msg.msg_name = &from;
                    msg.msg_namelen = sizeof(SockaddrNl);
                    msg.msg_iov = &iov;
                    msg.msg_iovlen = 1;
                    msg.msg_control = controlPtr;
                    msg.msg_controllen = control.Length;

                    long n = recvmsg(handle.Fd, &msg, MSG_DONTWAIT);
                    if (n < 0)
                    {
                        int e = errno;
                        if (e == EINTR)
                            continue;
                        if (e == EAGAIN || e == EWOULDBLOCK)
                            return NetlinkReceiveStatus.WouldBlock;
                        if (e == ENOBUFS)
                            return NetlinkReceiveStatus.Overflow;
                        throw Sys.IoError("recvmsg(NETLINK_KOBJECT_UEVENT)", e);
                    }

                    length = (int)Math.Min(n, data.Length);
                    sender = ReadSender(&msg, &from);
                    return (msg.msg_flags & MSG_TRUNC) != 0 ? NetlinkReceiveStatus.Truncated : NetlinkReceiveStatus.Datagram;
                }
            }
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>Waits until the descriptor is readable (or has an error pending) or the timeout passes.</summary>
    /// <returns><see langword="true"/> if readable.</returns>
    public static bool PollReadable(SafeFdHandle handle, int timeoutMilliseconds)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            long deadline = Environment.TickCount64 + Math.Max(timeoutMilliseconds, 0);
            while (true)
            {
                pollfd p = default;
                p.fd = handle.Fd;
                p.events = POLLIN;
                int wait = timeoutMilliseconds < 0 ? -1 : (int)Math.Max(deadline - Environment.TickCount64, 0);
                int r = poll(&p, 1, wait);
                if (r >= 0)
                    return r > 0;
                int e = errno;
                if (e != EINTR)
                    throw Sys.IoError("poll", e);
            }
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    private static NetlinkSender ReadSender(msghdr* msg, SockaddrNl* from)
    {
        // A missing or foreign source address is never the kernel.
        uint portId = msg->msg_namelen >= sizeof(SockaddrNl) && from->nl_family == (ushort)(int)AF_NETLINK
            ? from->nl_pid
            : uint.MaxValue;

        // Walk the control messages ourselves: Tmds.LibC 0.5.0's CMSG_LEN(n) returns the aligned CMSG_SPACE
        // value (32 instead of 28 for a ucred), so comparing against it rejects the kernel's credentials.
        byte* control = (byte*)msg->msg_control;
        long controlLength = (uint)msg->msg_controllen;
        long offset = 0;
        while (offset + sizeof(cmsghdr) <= controlLength)
        {
            cmsghdr* c = (cmsghdr*)(control + offset);
            long length = (uint)c->cmsg_len;
            if (length < sizeof(cmsghdr) || offset + length > controlLength)
                break;
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && length >= sizeof(cmsghdr) + sizeof(ucred))
            {
                ucred* cred = (ucred*)(control + offset + sizeof(cmsghdr));
                return new NetlinkSender(portId, HasCredentials: true, Pid: cred->pid, Uid: cred->uid);
            }

            offset += (length + (CmsgAlignment - 1)) & ~(long)(CmsgAlignment - 1);
        }

        return new NetlinkSender(portId, HasCredentials: false, Pid: 0, Uid: uint.MaxValue);
    }

    private static string SetReceiveBuffer(int fd, int bytes)
    {
        // SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; fall back to SO_RCVBUF.
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(int)) == 0)
            return "SO_RCVBUFFORCE";
        int e = errno;
        if (e != EPERM)
            throw Sys.IoError("setsockopt(SO_RCVBUFFORCE)", e);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(int)) != 0)
            throw Sys.IoError("setsockopt(SO_RCVBUF)");
        return "SO_RCVBUF";
    }

    private static int GetIntOption(int fd, int option, string name)
    {
        int value = 0;
        socklen_t length = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0)
            throw Sys.IoError($"getsockopt({name})");
        return value;
    }
}
