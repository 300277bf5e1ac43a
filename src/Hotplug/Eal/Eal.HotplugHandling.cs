using System.Runtime.CompilerServices;
using Hotplug.Events;
using Hotplug.Linux;
using Microsoft.Extensions.Logging;

namespace Hotplug.Eal;

/// <summary>Hotplug handling: the SIGBUS shim, the fault channel, and the one place a removal is decided.</summary>
public sealed partial class Eal
{
    /// <summary>
    /// Enables hotplug handling (DPDK's rte_dev_hotplug_handle_enable): installs the SIGBUS handler so a
    /// fault on a mapped BAR is survived, and makes REMOVE uevents remap the device's BARs. Reference
    /// counted: each call needs a <see cref="DisableHotplugHandling"/>. Only one Eal in a process may
    /// enable it at a time (the signal handler is process-wide).
    /// </summary>
    public void EnableHotplugHandling()
    {
        ThrowIfDisposed();
        lock (_gate)
        {
            if (_handlingRefs++ > 0)
                return;
            if (Interlocked.CompareExchange(ref s_handlingOwner, this, null) is not null)
            {
                _handlingRefs = 0;
                throw new InvalidOperationException("Another Eal in this process has hotplug handling enabled.");
            }
            try
            {
                NativeShim.CheckedVersion();
                int rc = NativeShim.SigbusInstall();
                if (rc < 0)
                    throw Errno.Exception("installing the SIGBUS handler", -rc);
                _faults = new FaultChannel(_loop, OnFault);
            }
            catch
            {
                _handlingRefs = 0;
                Interlocked.Exchange(ref s_handlingOwner, null);
                throw;
            }
            _logger.LogInformation("Hotplug handling enabled");
        }
        RemovalPathWarmup.Run(this, _loop);
    }

    /// <summary>Drops one <see cref="EnableHotplugHandling"/>; the last one restores the previous SIGBUS handler. Returns false if it was not enabled.</summary>
    public bool DisableHotplugHandling()
    {
        lock (_gate)
        {
            if (_handlingRefs == 0)
                return false;
            if (--_handlingRefs > 0)
                return true;
            _faults?.Dispose();
            _faults = null;
            int rc = NativeShim.SigbusUninstall();
            if (rc == 1)
                _logger.LogWarning("Another SIGBUS handler was installed over ours; ours stays below it and passes every signal on");
            else if (rc < 0)
                _logger.LogError("Uninstalling the SIGBUS handler failed: {Error}", Errno.Describe(-rc));
            Interlocked.Exchange(ref s_handlingOwner, null);
            _logger.LogInformation("Hotplug handling disabled");
            return true;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    internal void OnFault(NativeShim.Fault f)
    {
        long now = BusHost.MonotonicNs();
        Device? owner = null;
        lock (_gate)
        {
            foreach (var bus in Buses)
            {
                var r = bus.SigbusHandler((nint)f.Address, out var device);
                if (r == SigbusResult.NotMine)
                    continue;
                if (r == SigbusResult.Failed || device is null)
                {
                    RemovalPathLog.FaultFailed(_logger, bus.Name, f.Address);
                    break;
                }
                owner = device;
                HandleRemoval(device, DeviceEventSource.Sigbus, f.FaultNs, ownSource: true);
                break;
            }
            if (owner is null)
                RemovalPathLog.UnclaimedFault(_logger, f.Address);
        }
        SigbusFaultHandled?.Invoke(new SigbusFault((nint)f.Address, (nint)f.RangeStart, f.ThreadId, f.FaultNs, f.RemappedNs, now,
            f.First == 1, owner?.Name));
    }

    /// <summary>The one place a device's removal is decided, whichever source reported it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    internal void HandleRemoval(Device device, DeviceEventSource source, long timestampNs, bool ownSource)
    {
        lock (_gate)
        {
            if (ownSource || _handlingRefs > 0)
            {
                try
                {
                    device.Bus.HotUnplugHandler(device);
                }
                catch (Exception ex)
                {
                    device.State = DeviceState.Fault;
                    _logger.LogError(ex, "Hot-unplug handling of {Device} failed; it is marked Fault", device.Name);
                }
            }
            Publish(device.Bus, device.Name, DeviceEventType.Remove, source, timestampNs);
            PostAfterCallbacks();
        }
    }

    internal void AfterCallbacks(Action work)
    {
        lock (_gate)
            _afterCallbacks.Add(work);
    }

    /// <summary>Queues the deferred work behind the callbacks just published (the event thread runs posts in order).</summary>
    private void PostAfterCallbacks()
    {
        foreach (var work in _afterCallbacks)
        {
            _loop.Post(new GatedWork(_gate, work).Run); // the app may be detaching the same device on its own thread
        }
        _afterCallbacks.Clear();
    }

    /// <summary>Publishes unless it repeats the last event of the device (one REMOVE per removal).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    internal void Publish(IBus bus, string name, DeviceEventType type, DeviceEventSource source, long timestampNs)
    {
        string key = bus.Name + "/" + name;
        if (_lastPublished.TryGetValue(key, out var last) && last == type)
            return;
        _lastPublished[key] = type;
        RemovalPathLog.DeviceEvent(_logger, type, bus.Name, name, source);
        DeviceEvents.Publish(new DeviceEvent(bus.Name, name, type, source, timestampNs));
    }

    /// <summary>Touches the REMOVE de-duplication table once (compiles its generic code ahead of the first fault).</summary>
    internal void WarmPublishState()
    {
        lock (_gate)
        {
            const string key = "\0warmup";
            _lastPublished[key] = DeviceEventType.Remove;
            _ = _lastPublished.TryGetValue(key, out _);
            _lastPublished.Remove(key);
        }
    }

    /// <summary>Deferred removal work run under the Eal's lock (a named type, so the warm-up can compile it).</summary>
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
