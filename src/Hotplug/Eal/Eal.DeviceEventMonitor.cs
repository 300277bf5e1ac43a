using Hotplug.Events;
using Hotplug.Pci;
using Microsoft.Extensions.Logging;

namespace Hotplug.Eal;

/// <summary>The uevent monitor and what a kernel uevent does.</summary>
public sealed partial class Eal
{
    /// <summary>Starts the uevent monitor (DPDK's rte_dev_event_monitor_start). Reference counted.</summary>
    public void StartDeviceEventMonitor()
    {
        ThrowIfDisposed();
        lock (_gate)
        {
            if (_monitorRefs++ > 0)
                return;
            try
            {
                _monitor = new UeventMonitor(_loop, _options.UeventReceiveBufferBytes, OnUevent, OnUeventOverflow,
                    LoggerFactory.CreateLogger<UeventMonitor>());
            }
            catch
            {
                _monitorRefs = 0;
                throw;
            }
        }
    }

    /// <summary>Drops one <see cref="StartDeviceEventMonitor"/>; the last one stops it. Returns false if it was not running.</summary>
    public bool StopDeviceEventMonitor()
    {
        lock (_gate)
        {
            if (_monitorRefs == 0)
                return false;
            if (--_monitorRefs == 0)
            {
                _monitor?.Dispose();
                _monitor = null;
            }
            return true;
        }
    }

    private void OnUevent(Uevent ev)
    {
        UeventReceived?.Invoke(ev);
        lock (_gate)
        {
            foreach (var bus in Buses)
            {
                if (bus is PciBus observer)
                    observer.ObserveUevent(ev);
                if (!bus.TryMapUevent(ev, out string? name, out var type))
                    continue;
                long now = BusHost.MonotonicNs();
                if (type == DeviceEventType.Remove && bus.FindDevice(name) is { } device)
                    HandleRemoval(device, DeviceEventSource.Uevent, now, ownSource: false);
                else
                    Publish(bus, name, type, DeviceEventSource.Uevent, now);
                return;
            }
        }
    }

    private void OnUeventOverflow()
    {
        // The kernel dropped uevents: find out what changed by reading the buses again.
        lock (_gate)
        {
            if (Buses.OfType<PciBus>().Any(b => b.VfioReleasePending))
            {
                _logger.LogWarning("uevents were lost; the rescan waits until the pending vfio release is done");
                _loop.Post(OnUeventOverflow);
                return;
            }
            _logger.LogWarning("uevents were lost (ENOBUFS); rescanning to recover the missed ADD/REMOVE events");
            Scan();
        }
    }

    /// <summary>
    /// Handles a uevent on the event thread exactly as if the monitor had received it (for tests and for
    /// replaying captured events; the socket path calls the same method).
    /// </summary>
    internal void InjectUevent(Uevent ev) => _loop.Post(() => OnUevent(ev));
}
