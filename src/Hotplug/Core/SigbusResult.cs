namespace Hotplug;

/// <summary>What a bus says about a SIGBUS fault address (DPDK's sigbus_handler return: 0 / 1 / -1).</summary>
public enum SigbusResult
{
    /// <summary>The address belongs to one of this bus's devices, which is now handled as removed.</summary>
    Handled,
    /// <summary>Not an address of this bus.</summary>
    NotMine,
    /// <summary>The address is this bus's but handling it failed.</summary>
    Failed,
}
