using System.Diagnostics.Metrics;

namespace Hotplug;

/// <summary>How an <see cref="Eal"/> is set up. Buses are registered on <see cref="Eal.Buses"/> (for PCI: <c>eal.Buses.AddPci(...)</c>).</summary>
public sealed class EalOptions
{
    /// <summary>Receive buffer asked for the uevent socket (SO_RCVBUFFORCE, else SO_RCVBUF).</summary>
    public int UeventReceiveBufferBytes { get; init; } = 1 << 20;

    /// <summary>
    /// The CPUs the event thread may run on (it reads every removal signal and runs the device-event callbacks).
    /// Null (the default): the process's own. When data-path threads spin on CPUs of their own, keep the event thread
    /// off them, as DPDK keeps its interrupt thread off its lcores: a removal's signal then wakes it on a free CPU at
    /// once, instead of time-sharing with a poller (a vfio REMOVE callback some milliseconds later; see
    /// <c>docs/benchmarks.md</c>). <see cref="Eal"/>'s constructor throws <see cref="ArgumentException"/> for an empty
    /// list, a CPU outside 0..1023, or a set the process may not use.
    /// </summary>
    public IReadOnlyCollection<int>? EventThreadCpus { get; init; }

    /// <summary>
    /// Creates the <see cref="HotplugMeter.Name"/> meter (a host's <see cref="IMeterFactory"/>, so its metrics pipeline
    /// owns it). Null (the default): the Eal creates its own meter and disposes it with itself.
    /// </summary>
    public IMeterFactory? MeterFactory { get; init; }
}
