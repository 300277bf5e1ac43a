using Hotplug.Loop;
using Hotplug.Uevents;
using Microsoft.Extensions.Logging;

namespace Hotplug;

/// <summary>
/// The uevent monitor (DPDK's rte_dev_event_monitor_start) and what a kernel uevent does: every bus observes it,
/// the bus that maps it gets an ADD, a BOUND or a REMOVE (through the <see cref="RemovalCoordinator"/>), and an
/// overflow becomes a rescan once no bus is waiting for the kernel. Reference counted.
/// </summary>
internal sealed class DeviceEventMonitor(RemovalCoordinator coordinator, BusRegistry buses, EventLoop loop, int bufferBytes,
    Func<BusScanResult> rescan, HotplugMetrics metrics, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger<DeviceEventMonitor>();
    private int _refs;
    private UeventMonitor? _monitor;

    public bool Running => _refs > 0;

    public UeventStats? Stats => _monitor?.Stats;

    /// <summary>Raised on the event thread for every kernel uevent the monitor accepted (all subsystems).</summary>
    public event Action<Uevent>? Received;

    /// <summary>Under the coordinator's gate.</summary>
    public void Start()
    {
        if (_refs++ > 0)
            return;
        try
        {
            _monitor = new UeventMonitor(loop, bufferBytes, OnUevent, OnOverflow, metrics.Received, loggers.CreateLogger<UeventMonitor>());
        }
        catch
        {
            _refs = 0;
            throw;
        }
    }

    /// <summary>Under the coordinator's gate. False if it was not running.</summary>
    public bool Stop(bool all = false)
    {
        if (_refs == 0)
            return false;
        _refs = all ? 0 : _refs - 1;
        if (_refs == 0)
        {
            _monitor?.Dispose();
            _monitor = null;
        }
        return true;
    }

    /// <summary>Handles a uevent on the event thread (the socket path; tests inject through the same method).</summary>
    public void OnUevent(Uevent ev)
    {
        Received?.Invoke(ev);
        lock (coordinator.Gate)
        {
            foreach (var bus in buses)
            {
                bus.ObserveUevent(ev);
                if (!bus.TryMapUevent(ev, out string? name, out var type))
                    continue;
                long now = BusHost.MonotonicNs();
                var device = bus.FindDevice(name);
                if (type == DeviceEventType.Remove && device is not null)
                    coordinator.HandleRemoval(device, DeviceEventSource.Uevent, now, ownSource: false);
                else
                    coordinator.Publish(bus, name, type, DeviceEventSource.Uevent, now, device?.Generation ?? 0);
                coordinator.PostAfterCallbacks();
                return;
            }
            coordinator.PostAfterCallbacks();
        }
    }

    private void OnOverflow()
    {
        // The kernel dropped uevents: find out what changed by reading the buses again.
        lock (coordinator.Gate)
        {
            if (buses.Any(b => b.ReleasePending))
            {
                _logger.LogWarning("uevents were lost; the rescan waits until the pending device release is done");
                loop.Post(OnOverflow);
                return;
            }
            _logger.LogWarning("uevents were lost (ENOBUFS); rescanning to recover the missed ADD/REMOVE events");
            metrics.Resync();
            rescan();
        }
    }
}
