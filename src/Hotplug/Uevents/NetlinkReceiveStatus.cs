namespace Hotplug.Uevents;

/// <summary>Outcome of one non-blocking <c>recvmsg</c> on a netlink socket.</summary>
internal enum NetlinkReceiveStatus
{
    /// <summary>A whole datagram was read.</summary>
    Datagram,

    /// <summary>A datagram was larger than the buffer (<c>MSG_TRUNC</c>); its tail was discarded.</summary>
    Truncated,

    /// <summary>Nothing is queued (<c>EAGAIN</c>).</summary>
    WouldBlock,

    /// <summary>The kernel dropped messages because the receive buffer was full (<c>ENOBUFS</c>).</summary>
    Overflow,
}
