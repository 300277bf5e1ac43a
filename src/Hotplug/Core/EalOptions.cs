using System.Diagnostics.Metrics;

namespace Hotplug;

/// <summary>How an <see cref="Eal"/> is set up. Buses are registered on <see cref="Eal.Buses"/> (for PCI: <c>eal.Buses.AddPci(...)</c>).</summary>
public sealed class EalOptions
{
    /// <summary>Receive buffer asked for the uevent socket (SO_RCVBUFFORCE, else SO_RCVBUF).</summary>
    public int UeventReceiveBufferBytes { get; init; } = 1 << 20;

    /// <summary>
    /// Creates the <see cref="HotplugMeter.Name"/> meter (a host's <see cref="IMeterFactory"/>, so its metrics pipeline
    /// owns it). Null (the default): the Eal creates its own meter and disposes it with itself.
    /// </summary>
    public IMeterFactory? MeterFactory { get; init; }
}
