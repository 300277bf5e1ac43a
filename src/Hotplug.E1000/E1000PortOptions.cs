using Microsoft.Extensions.Logging;

namespace Hotplug.E1000;

/// <summary>How <see cref="E1000Port.Attach"/> sets a port up.</summary>
public sealed class E1000PortOptions
{
    /// <summary>Receive descriptors: a multiple of 8, 8 to <see cref="E1000Port.MaxRingSize"/> (default 256).</summary>
    public int RxRingSize { get; init; } = 256;

    /// <summary>Transmit descriptors: a multiple of 8, 8 to <see cref="E1000Port.MaxRingSize"/> (default 256).</summary>
    public int TxRingSize { get; init; } = 256;

    /// <summary>
    /// The packet buffers: null (the default) makes a pool of <see cref="PoolSize"/> buffers that the port owns and
    /// disposes. A pool given here is shared (forwarding between ports, a fail-safe group) and stays the caller's:
    /// its memory must be reachable by this NIC (vfio: every device of the bus shares one allocator; uio: physical
    /// addresses), and its buffers must hold <see cref="E1000Port.RxBufferSize"/> bytes.
    /// </summary>
    public PacketPool? Pool { get; init; }

    /// <summary>Buffers in the pool the port makes when <see cref="Pool"/> is null (default 1024; at least the receive ring).</summary>
    public int PoolSize { get; init; } = 1024;

    /// <summary>Accept every unicast and multicast frame, not only those to the port's MAC (RCTL.UPE / MPE; default false).</summary>
    public bool Promiscuous { get; init; }

    /// <summary>Accept broadcast frames (RCTL.BAM; default true).</summary>
    public bool AcceptBroadcast { get; init; } = true;

    /// <summary>How long bring-up waits for CTRL.RST to clear and for an EEPROM read (default 1 s).</summary>
    public TimeSpan ResetTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Where the port logs its bring-up and its removal (default: nowhere).</summary>
    public ILogger? Logger { get; init; }
}
