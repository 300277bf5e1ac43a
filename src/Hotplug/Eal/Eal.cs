using System.Runtime.CompilerServices;
using Hotplug.Events;
using Hotplug.Linux;
using Hotplug.Pci;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotplug.Eal;

/// <summary>
/// Owns everything: the bus registry, the event thread, the device-event dispatcher, hotplug handling
/// (the SIGBUS shim) and the uevent monitor. State changes of devices happen under one lock; device
/// events are delivered on the event thread. Dispose detaches every attached device and stops it all.
/// </summary>
public sealed class Eal : IDisposable
{
    // The SIGBUS handler is process-wide, so is the fault ring: one Eal at a time may own it.
    private static Eal? s_handlingOwner;

    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private readonly EventLoop _loop;
    private readonly EalOptions _options;
    private readonly Dictionary<string, DeviceEventType> _lastPublished = [];
    private readonly HashSet<IBus> _scannedOnce = [];
    private readonly List<Action> _afterCallbacks = [];
    private int _handlingRefs;
    private FaultChannel? _faults;
    private int _monitorRefs;
    private UeventMonitor? _monitor;
    private bool _disposed;

    /// <summary>Creates the EAL; registers a PCI bus unless <see cref="EalOptions.Pci"/> is null.</summary>
    public Eal(EalOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        _options = options ?? new EalOptions();
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = LoggerFactory.CreateLogger<Eal>();
        _loop = new EventLoop(LoggerFactory.CreateLogger<EventLoop>());
        DeviceEvents = new DeviceEventDispatcher(_loop, LoggerFactory.CreateLogger<DeviceEventDispatcher>());
        Buses = new BusRegistry(new BusHost(this, LoggerFactory, _loop), _gate);
        if (_options.Pci is { } pci)
            Buses.Register(new PciBus(pci));
    }

    /// <summary>
    /// The version string of the native shim (<c>libhotplug_shim.so</c>), for example <c>hotplug_shim 0.1.0</c>.
    /// Loads the shim and checks its ABI; a quick way to verify the native part was deployed.
    /// </summary>
    /// <exception cref="DllNotFoundException">The shim is not next to the application or in its runtimes folder.</exception>
    /// <exception cref="InvalidOperationException">The shim has another ABI version than this assembly.</exception>
    public static string ShimVersion => NativeShim.CheckedVersion();

    /// <summary>The logger factory everything logs through.</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>The registered buses.</summary>
    public BusRegistry Buses { get; }

    /// <summary>The PCI bus, when one is registered.</summary>
    public PciBus? Pci => Buses.Find<PciBus>();

    /// <summary>Device-event callbacks and readers.</summary>
    public DeviceEventDispatcher DeviceEvents { get; }

    /// <summary>Raised on the event thread for every SIGBUS the shim recovered from.</summary>
    public event Action<SigbusFault>? SigbusFaultHandled;

    /// <summary>Raised on the event thread for every kernel uevent the monitor accepted (all subsystems).</summary>
    public event Action<Uevent>? UeventReceived;

    /// <summary>True while hotplug handling is enabled.</summary>
    public bool HotplugHandlingEnabled { get { lock (_gate) return _handlingRefs > 0; } }

    /// <summary>True while the device event monitor runs.</summary>
    public bool DeviceEventMonitorRunning { get { lock (_gate) return _monitorRefs > 0; } }

    /// <summary>The uevent monitor's counters, while it runs.</summary>
    public UeventStats? UeventStats { get { lock (_gate) return _monitor?.Stats; } }

    /// <summary>Scans every bus. After the first scan of a bus, devices found or gone raise ADD / REMOVE (source Scan).</summary>
    public BusScanResult Scan()
    {
        ThrowIfDisposed();
        var added = new List<string>();
        var removed = new List<string>();
        var errors = new List<string>();
        lock (_gate)
        {
            foreach (var bus in Buses)
            {
                var r = bus.Scan();
                bool announce = !_scannedOnce.Add(bus);
                foreach (string name in r.Added)
                {
                    added.Add(name);
                    if (announce)
                        Publish(bus, name, DeviceEventType.Add, DeviceEventSource.Scan, BusHost.MonotonicNs());
                    else
                        _lastPublished.Remove(bus.Name + "/" + name);
                }
                foreach (string name in r.Removed)
                {
                    removed.Add(name);
                    Publish(bus, name, DeviceEventType.Remove, DeviceEventSource.Scan, BusHost.MonotonicNs());
                }
                foreach (string e in r.Errors)
                    _logger.LogWarning("Scan of bus {Bus}: {Error}", bus.Name, e);
                errors.AddRange(r.Errors);
            }
            PostAfterCallbacks();
        }
        return new BusScanResult(added, removed, errors);
    }

    /// <summary>Attaches drivers to every Parsed device they match. Returns how many were attached.</summary>
    public int Probe()
    {
        ThrowIfDisposed();
        lock (_gate)
        {
            int n = 0;
            foreach (var bus in Buses)
            {
                n += bus.Probe();
                foreach (var d in bus.Devices.Where(d => d.State == DeviceState.Probed))
                    _lastPublished.Remove(bus.Name + "/" + d.Name);
            }
            return n;
        }
    }

    /// <summary>Attaches one device by name (DPDK's rte_eal_hotplug_add): reads it from the bus and probes it.</summary>
    /// <exception cref="BusNotFoundException">No such bus.</exception>
    /// <exception cref="DeviceNotFoundException">No such device, or the name is not valid on the bus.</exception>
    /// <exception cref="HotplugException">It is attached already, blocked, or no driver took it.</exception>
    public Device HotplugAdd(string busName, string deviceName, string? args = null)
    {
        ThrowIfDisposed();
        lock (_gate)
        {
            var bus = Buses.Get(busName);
            string name = Canonical(bus, deviceName);
            var device = bus.Plug(name, args);
            _lastPublished.Remove(bus.Name + "/" + device.Name); // a new life: its next REMOVE must be told
            return device;
        }
    }

    /// <summary>Detaches one device by name (DPDK's rte_eal_hotplug_remove). Safe from inside its own REMOVE callback.</summary>
    /// <exception cref="BusNotFoundException">No such bus.</exception>
    /// <exception cref="DeviceNotFoundException">No such device.</exception>
    /// <exception cref="HotplugException">The device is not attached (for example, detached twice).</exception>
    public void HotplugRemove(string busName, string deviceName)
    {
        ThrowIfDisposed();
        lock (_gate)
        {
            var bus = Buses.Get(busName);
            string name = Canonical(bus, deviceName);
            var device = bus.FindDevice(name) ?? throw new DeviceNotFoundException(bus.Name, name);
            if (device.Driver is null)
                throw new HotplugException($"{bus.Name}:{name} is not attached (detached twice?).");
            bus.Unplug(device);
        }
    }

    private static string Canonical(IBus bus, string deviceName) =>
        bus.TryParseDeviceName(deviceName, out string? name) ? name
            : throw new DeviceNotFoundException(bus.Name, deviceName, "not a valid device name on this bus");

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
            _loop.Post(() =>
            {
                lock (_gate) // the app may be detaching the same device on its own thread
                    work();
            });
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

    /// <summary>
    /// Handles a uevent on the event thread exactly as if the monitor had received it (for tests and for
    /// replaying captured events; the socket path calls the same method).
    /// </summary>
    internal void InjectUevent(Uevent ev) => _loop.Post(() => OnUevent(ev));

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

    /// <summary>For tests: waits until the event thread has handled what was signalled and posted before.</summary>
    internal bool FlushEventThread() => _loop.Flush(TimeSpan.FromSeconds(10));

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Stops the monitor, detaches every attached device, disables hotplug handling and stops the event thread.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            _monitorRefs = Math.Min(_monitorRefs, 1);
            StopDeviceEventMonitor();
            foreach (var bus in Buses)
            {
                foreach (var d in bus.Devices.Where(d => d.Driver is not null).ToList())
                {
                    try
                    {
                        bus.Unplug(d);
                    }
                    catch (Exception ex)
                    {
                        _logger.LogError(ex, "Detaching {Device} at dispose failed", d.Name);
                    }
                }
            }
            _handlingRefs = Math.Min(_handlingRefs, 1);
            DisableHotplugHandling();
        }
        _loop.Flush(TimeSpan.FromSeconds(10)); // deferred releases (vfio) run before the thread stops
        _loop.Dispose();
        DeviceEvents.Complete();
    }
}
