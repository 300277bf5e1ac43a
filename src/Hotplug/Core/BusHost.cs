using Hotplug.Interop;
using Hotplug.Loop;
using Microsoft.Extensions.Logging;

namespace Hotplug;

/// <summary>What the core offers the buses registered with it.</summary>
public sealed class BusHost
{
    private readonly RemovalCoordinator _coordinator;

    internal BusHost(RemovalCoordinator coordinator, ILoggerFactory loggerFactory, EventLoop loop)
    {
        _coordinator = coordinator;
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
        _coordinator.HandleRemoval(device, source, timestampNs, ownSource: true);

    /// <summary>
    /// A new fault cookie for a mapping of <paramref name="device"/> that the bus registers with the SIGBUS shim.
    /// Cookies are unique in the process and never reused, so a fault record names the one mapping that faulted
    /// (found in O(1)), however late it is read. Forget it when the mapping is released.
    /// </summary>
    public ulong RegisterFaultOwner(Device device) => _coordinator.FaultOwners.Register(device);

    /// <summary>Forgets a cookie: later records that carry it are stale and are ignored.</summary>
    public void ForgetFaultOwner(ulong cookie) => _coordinator.FaultOwners.Forget(cookie);

    /// <summary>
    /// <paramref name="device"/> begins a new life (it is being attached): returns its new <see cref="Device.Generation"/>
    /// (unique in the process), and its next REMOVE will be told even if the last event it had was a REMOVE.
    /// </summary>
    public long BeginAttachment(Device device)
    {
        _coordinator.ForgetPublished(device.Bus, device.Name);
        _coordinator.AttachmentBegun();
        return _coordinator.NextGeneration();
    }

    /// <summary>CLOCK_MONOTONIC in nanoseconds, the clock of every event timestamp.</summary>
    public static long MonotonicNs() => NativeShim.hp_monotonic_ns();
}
