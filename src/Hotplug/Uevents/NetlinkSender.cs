namespace Hotplug.Uevents;

/// <summary>Who sent a netlink datagram, from its source address and <c>SCM_CREDENTIALS</c>.</summary>
/// <param name="PortId">The sender's port id; 0 is the kernel.</param>
/// <param name="HasCredentials">Whether an <c>SCM_CREDENTIALS</c> control message came with it.</param>
/// <param name="Pid">The sender's pid from the credentials (0 for the kernel).</param>
/// <param name="Uid">The sender's uid from the credentials (0 for the kernel).</param>
internal readonly record struct NetlinkSender(uint PortId, bool HasCredentials, int Pid, uint Uid)
{
    /// <summary>True only for the kernel: port id 0 and credentials with uid 0.</summary>
    public bool IsKernel => PortId == 0 && HasCredentials && Uid == 0;
}
