using Hotplug.Events;
using Microsoft.Extensions.Logging;

namespace Hotplug.Eal;

/// <summary>What the <see cref="Eal"/> offers the buses registered with it.</summary>
public sealed class BusHost
{
    private readonly Eal _eal;

    internal BusHost(Eal eal, ILoggerFactory loggerFactory, EventLoop loop)
    {
        _eal = eal;
        LoggerFactory = loggerFactory;
        Loop = loop;
    }

    /// <summary>For the bus's logs.</summary>
    public ILoggerFactory LoggerFactory { get; }

    internal EventLoop Loop { get; }

    /// <summary>
    /// A source the bus owns (a uio fd, a vfio request) says the device is gone. Runs the bus's
    /// <see cref="IBus.HotUnplugHandler"/> and raises one REMOVE. Call it on the event thread.
    /// </summary>
    public void ReportRemoval(Device device, DeviceEventSource source, long timestampNs) =>
        _eal.HandleRemoval(device, source, timestampNs, ownSource: true);

    /// <summary>
    /// Runs <paramref name="work"/> on the event thread after the device events raised by the current
    /// handling have been delivered (for example, a slow release the kernel waits for, which must not
    /// delay the app's REMOVE).
    /// </summary>
    public void AfterCallbacks(Action work) => _eal.AfterCallbacks(work);

    /// <summary>CLOCK_MONOTONIC in nanoseconds, the clock of every event timestamp.</summary>
    public static long MonotonicNs() => Linux.NativeShim.MonotonicNs();
}
