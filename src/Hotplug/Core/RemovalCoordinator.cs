using System.Runtime.CompilerServices;
using Hotplug.Interop;
using Hotplug.Loop;
using Microsoft.Extensions.Logging;

namespace Hotplug;

/// <summary>
/// The one place that decides a device's fate, whichever source reported it (SIGBUS, uio hang-up, vfio request,
/// uevent, scan): it runs the bus's hot-unplug handler, publishes one REMOVE per removal, and queues the release
/// the bus deferred behind the callbacks. Everything here runs under <see cref="Gate"/>, the lock that serialises
/// every change of device state.
/// </summary>
internal sealed class RemovalCoordinator
{
    private readonly ILogger _logger;
    private readonly EventLoop _loop;
    private readonly DeviceEventDispatcher _events;
    private readonly HotplugMetrics _metrics;
    private readonly Dictionary<string, DeviceEventType> _lastPublished = [];
    private readonly List<Action> _afterCallbacks = [];
    private long _generation;

    public RemovalCoordinator(EventLoop loop, DeviceEventDispatcher events, HotplugMetrics metrics, ILogger logger)
    {
        _loop = loop;
        _events = events;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>The lock every change of device state is made under.</summary>
    public Lock Gate { get; } = new();

    /// <summary>The owners of the mappings registered with the SIGBUS shim.</summary>
    public FaultOwners FaultOwners { get; } = new();

    /// <summary>True while hotplug handling is on: removals reported by uevents then remap the device too.</summary>
    public bool HandlingEnabled { get; set; }

    public long NextGeneration() => Interlocked.Increment(ref _generation);

    /// <summary>Raised on the event thread for every SIGBUS the shim recovered from.</summary>
    public event Action<SigbusFault>? FaultHandled;

    /// <summary>A record drained from the shim's fault ring: charged to the mapping whose cookie it carries, or to nobody.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public void OnFault(NativeShim.hp_fault f)
    {
        long now = BusHost.MonotonicNs();
        _metrics.FaultRecovered(); // the shim remapped the page and the thread went on, whoever owned it
        Device? owner = null;
        lock (Gate)
        {
            var device = FaultOwners.Find(f.cookie);
            if (device is null)
            {
                RemovalPathLog.StaleFault(_logger, f.address, f.cookie);
            }
            else if (device.Bus.SigbusHandler(device, (nint)f.address) == SigbusResult.Handled)
            {
                owner = device;
                HandleRemoval(device, DeviceEventSource.Sigbus, f.fault_ns, ownSource: true);
            }
            else
            {
                RemovalPathLog.FaultFailed(_logger, device.Bus.Name, f.address);
            }
        }
        FaultHandled?.Invoke(new SigbusFault((nint)f.address, (nint)f.range_start, f.thread_id, f.fault_ns, f.remapped_ns, now,
            f.first == 1, owner?.Name));
    }

    /// <summary>The device is gone or going: make it safe (when handling is on or the source is the bus's own), publish one REMOVE.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public void HandleRemoval(Device device, DeviceEventSource source, long timestampNs, bool ownSource)
    {
        lock (Gate)
        {
            long generation = device.Generation;
            if (ownSource || HandlingEnabled)
            {
                try
                {
                    var result = device.Bus.HotUnplugHandler(device);
                    if (result.DeferredRelease is { } release)
                        _afterCallbacks.Add(release);
                }
                catch (Exception ex)
                {
                    device.State = DeviceState.Fault;
                    _logger.LogError(ex, "Hot-unplug handling of {Device} failed; it is marked Fault", device.Name);
                }
            }
            Publish(device.Bus, device.Name, DeviceEventType.Remove, source, timestampNs, generation);
            PostAfterCallbacks();
        }
    }

    /// <summary>Publishes unless it repeats the last event of the device (one REMOVE per removal).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public void Publish(IBus bus, string name, DeviceEventType type, DeviceEventSource source, long timestampNs, long generation)
    {
        string key = bus.Name + "/" + name;
        if (_lastPublished.TryGetValue(key, out var last) && last == type)
            return;
        _lastPublished[key] = type;
        if (type == DeviceEventType.Remove)
            _metrics.Removal(source); // one per removal: the repeats from the other sources stop above
        _events.Publish(new DeviceEvent(bus.Name, name, type, source, timestampNs, generation) { PublishedNs = BusHost.MonotonicNs() });
    }

    /// <summary>A device is being attached (under the gate): wakes whoever waits for one (they look once the gate is free).</summary>
    public void AttachmentBegun() => _events.Wake();

    /// <summary>A new life of the device begins (attached, or found for the first time): its next REMOVE must be told.</summary>
    public void ForgetPublished(IBus bus, string name) => _lastPublished.Remove(bus.Name + "/" + name);

    /// <summary>Queues the deferred releases behind the callbacks just published (the event thread runs posts in order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public void PostAfterCallbacks()
    {
        foreach (var work in _afterCallbacks)
            _loop.Post(new GatedWork(Gate, work).Run); // the app may be detaching the same device on its own thread
        _afterCallbacks.Clear();
    }

    /// <summary>Touches the de-duplication table and the owner table once (compiles their generic code ahead of the first fault).</summary>
    public void Warm()
    {
        lock (Gate)
        {
            const string key = "\0warmup";
            _lastPublished[key] = DeviceEventType.Remove;
            _ = _lastPublished.TryGetValue(key, out _);
            _lastPublished.Remove(key);
        }
        FaultOwners.Warm();
    }

    /// <summary>Deferred removal work run under the gate (a named type, so the warm-up can compile it).</summary>
    internal sealed class GatedWork(Lock gate, Action work)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
        public void Run()
        {
            lock (gate)
                work();
        }
    }
}
