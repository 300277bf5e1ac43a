using Hotplug.Pci;

namespace Hotplug.Eal;

/// <summary>How an <see cref="Eal"/> is set up.</summary>
public sealed class EalOptions
{
    /// <summary>The PCI bus's options; null registers no PCI bus.</summary>
    public PciBusOptions? Pci { get; init; } = new();

    /// <summary>Receive buffer asked for the uevent socket (SO_RCVBUFFORCE, else SO_RCVBUF).</summary>
    public int UeventReceiveBufferBytes { get; init; } = 1 << 20;
}
