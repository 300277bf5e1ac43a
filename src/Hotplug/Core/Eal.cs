using Hotplug.Interop;
using Hotplug.Loop;
using Hotplug.Uevents;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotplug;

/// <summary>
/// The front of the library (DPDK's EAL device API): the bus registry, scan / probe / hotplug add and remove,
/// hotplug handling (the SIGBUS shim), the uevent monitor and device-event callbacks. It owns one event thread;
/// every change of device state is serialised by the <see cref="RemovalCoordinator"/>, the one place that
/// decides a device's fate. Register buses on <see cref="Buses"/> (for PCI, <c>eal.Buses.AddPci(options)</c>).
/// </summary>
public sealed partial class Eal : IDisposable
{
    private readonly EventLoop _loop;
    private readonly RemovalCoordinator _coordinator;
    private readonly HotplugHandling _handling;
    private readonly DeviceEventMonitor _monitor;
    private readonly HashSet<IBus> _scannedOnce = [];
    private readonly ILogger _logger;
    private bool _disposed;

    /// <summary>Creates the EAL with no bus; register buses on <see cref="Buses"/>.</summary>
    public Eal(EalOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        options ??= new EalOptions();
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = LoggerFactory.CreateLogger<Eal>();
        if (options.EventThreadCpus is { } cpus)
            ThreadAffinity.Validate(cpus, nameof(EalOptions.EventThreadCpus));
        _loop = new EventLoop(LoggerFactory.CreateLogger<EventLoop>(), options.EventThreadCpus);
        Metrics = new HotplugMetrics(options.MeterFactory);
        DeviceEvents = new DeviceEventDispatcher(_loop, Metrics, LoggerFactory.CreateLogger<DeviceEventDispatcher>());
        _coordinator = new RemovalCoordinator(_loop, DeviceEvents, Metrics, _logger);
        _handling = new HotplugHandling(_coordinator, _loop, _logger);
        Buses = new BusRegistry(new BusHost(_coordinator, LoggerFactory, _loop), _coordinator.Gate);
        DeviceEvents.Bind(_coordinator.Gate, PresentDevices);
        _monitor = new DeviceEventMonitor(_coordinator, Buses, _loop, options.UeventReceiveBufferBytes, Scan, Metrics, LoggerFactory);
    }

    /// <summary>
    /// The version string of the native shim (<c>libhotplug_shim.so</c>), for example <c>hotplug_shim 0.1.0</c>.
    /// Loads the shim and checks its ABI; a quick way to verify the native part was deployed.
    /// </summary>
    /// <exception cref="DllNotFoundException">The shim is not next to the application or in its runtimes folder.</exception>
    /// <exception cref="InvalidOperationException">The shim has another ABI version than this assembly.</exception>
    public static string ShimVersion => NativeShim.CheckedVersion();

    /// <summary>This Eal's instruments of the <see cref="HotplugMeter.Name"/> meter.</summary>
    internal HotplugMetrics Metrics { get; }

    /// <summary>The logger factory everything logs through.</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>The registered buses.</summary>
    public BusRegistry Buses { get; }

    /// <summary>Device-event callbacks and readers.</summary>
    public DeviceEventDispatcher DeviceEvents { get; }

    /// <summary>Raised on the event thread for every SIGBUS the shim recovered from.</summary>
    public event Action<SigbusFault>? SigbusFaultHandled
    {
        add => _coordinator.FaultHandled += value;
        remove => _coordinator.FaultHandled -= value;
    }

    /// <summary>Raised on the event thread for every kernel uevent the monitor accepted (all subsystems).</summary>
    public event Action<Uevent>? UeventReceived
    {
        add => _monitor.Received += value;
        remove => _monitor.Received -= value;
    }

    /// <summary>True while hotplug handling is enabled.</summary>
    public bool HotplugHandlingEnabled { get { lock (_coordinator.Gate) return _handling.Enabled; } }

    /// <summary>True while the device event monitor runs.</summary>
    public bool DeviceEventMonitorRunning { get { lock (_coordinator.Gate) return _monitor.Running; } }

    /// <summary>The uevent monitor's counters, while it runs.</summary>
    public UeventStats? UeventStats { get { lock (_coordinator.Gate) return _monitor.Stats; } }

    /// <summary>
    /// Enables hotplug handling (DPDK's rte_dev_hotplug_handle_enable): installs the SIGBUS handler so a
    /// fault on a mapped BAR is survived, and makes REMOVE uevents remap the device's BARs. Reference
    /// counted: each call needs a <see cref="DisableHotplugHandling"/>. Only one Eal in a process may
    /// enable it at a time (the signal handler is process-wide).
    /// </summary>
    public void EnableHotplugHandling()
    {
        ThrowIfDisposed();
        bool first;
        lock (_coordinator.Gate)
            first = _handling.Enable();
        if (first)
            RemovalPathWarmup.Run(_coordinator, Buses, LoggerFactory, _loop);
    }

    /// <summary>Drops one <see cref="EnableHotplugHandling"/>; the last one restores the previous SIGBUS handler. Returns false if it was not enabled.</summary>
    public bool DisableHotplugHandling()
    {
        lock (_coordinator.Gate)
            return _handling.Disable();
    }

    /// <summary>Starts the uevent monitor (DPDK's rte_dev_event_monitor_start). Reference counted.</summary>
    public void StartDeviceEventMonitor()
    {
        ThrowIfDisposed();
        lock (_coordinator.Gate)
            _monitor.Start();
    }

    /// <summary>Drops one <see cref="StartDeviceEventMonitor"/>; the last one stops it. Returns false if it was not running.</summary>
    public bool StopDeviceEventMonitor()
    {
        lock (_coordinator.Gate)
            return _monitor.Stop();
    }

    /// <summary>Scans every bus. After the first scan of a bus, devices found or gone raise ADD / REMOVE (source Scan).</summary>
    public BusScanResult Scan()
    {
        ThrowIfDisposed();
        var added = new List<string>();
        var removed = new List<string>();
        var errors = new List<string>();
        lock (_coordinator.Gate)
        {
            foreach (var bus in Buses)
            {
                var r = bus.Scan();
                bool announce = !_scannedOnce.Add(bus);
                foreach (string name in r.Added)
                {
                    added.Add(name);
                    if (announce)
                        _coordinator.Publish(bus, name, DeviceEventType.Add, DeviceEventSource.Scan, BusHost.MonotonicNs(), 0);
                    else
                        _coordinator.ForgetPublished(bus, name);
                }
                foreach (string name in r.Removed)
                {
                    removed.Add(name);
                    long generation = bus.FindDevice(name)?.Generation ?? 0;
                    _coordinator.Publish(bus, name, DeviceEventType.Remove, DeviceEventSource.Scan, BusHost.MonotonicNs(), generation);
                }
                foreach (string e in r.Errors)
                    _logger.LogWarning("Scan of bus {Bus}: {Error}", bus.Name, e);
                errors.AddRange(r.Errors);
            }
            _coordinator.PostAfterCallbacks();
        }
        return new BusScanResult(added, removed, errors);
    }

    /// <summary>Attaches drivers to every Parsed device they match. Returns how many were attached.</summary>
    public int Probe()
    {
        ThrowIfDisposed();
        lock (_coordinator.Gate)
            return Buses.Sum(bus => bus.Probe());
    }

    /// <summary>Attaches one device by name (DPDK's rte_eal_hotplug_add): reads it from the bus and probes it.</summary>
    /// <exception cref="BusNotFoundException">No such bus.</exception>
    /// <exception cref="DeviceNotFoundException">No such device, or the name is not valid on the bus (the message says why).</exception>
    /// <exception cref="HotplugException">It is attached already, blocked, removed while attaching, or no driver took it.</exception>
    public Device HotplugAdd(string busName, string deviceName, string? args = null)
    {
        ThrowIfDisposed();
        lock (_coordinator.Gate)
        {
            var bus = Buses.Get(busName);
            return bus.Plug(Canonical(bus, deviceName), args);
        }
    }

    /// <summary>
    /// Detaches one device by name (DPDK's rte_eal_hotplug_remove). Safe from inside its own REMOVE callback.
    /// The data path must stop using the device's BARs (and anything else it got from the device) first: a
    /// thread still reading a <c>MappedBar</c> after this returns reads dead memory (all-ones or zero) or gets
    /// an <see cref="ObjectDisposedException"/>, never unmapped memory; its results are meaningless.
    /// </summary>
    /// <exception cref="BusNotFoundException">No such bus.</exception>
    /// <exception cref="DeviceNotFoundException">No such device.</exception>
    /// <exception cref="HotplugException">The device is not attached.</exception>
    public void HotplugRemove(string busName, string deviceName)
    {
        ThrowIfDisposed();
        lock (_coordinator.Gate)
        {
            var bus = Buses.Get(busName);
            string name = Canonical(bus, deviceName);
            var device = bus.FindDevice(name) ?? throw new DeviceNotFoundException(bus.Name, name);
            if (device.Driver is null)
                throw new HotplugException($"{bus.Name}:{name} is not attached.");
            bus.Unplug(device);
        }
    }

    /// <summary>
    /// Detaches the device an event is about, but only in the life the event belongs to: false (and nothing
    /// done) when the device has been detached since, or detached and attached again (a stale REMOVE from a
    /// queue never detaches the new attachment). Safe from inside the callback; see <see cref="HotplugRemove(string, string)"/>
    /// for what the data path must do.
    /// </summary>
    /// <exception cref="BusNotFoundException">No such bus.</exception>
    public bool HotplugRemove(DeviceEvent deviceEvent)
    {
        ArgumentNullException.ThrowIfNull(deviceEvent);
        ThrowIfDisposed();
        lock (_coordinator.Gate)
        {
            var bus = Buses.Get(deviceEvent.BusName);
            var device = bus.FindDevice(deviceEvent.DeviceName);
            if (device?.Driver is null || deviceEvent.Generation == 0 || device.Generation != deviceEvent.Generation)
                return false;
            bus.Unplug(device);
            return true;
        }
    }

    private static string Canonical(IBus bus, string deviceName) =>
        bus.TryParseDeviceName(deviceName, out string? name, out string? error) ? name
            : throw new DeviceNotFoundException(bus.Name, deviceName, $"not a valid device name on this bus: {error}");

    /// <summary>For tests: waits until the event thread has handled what was signalled and posted before.</summary>
    internal bool FlushEventThread() => _loop.Flush(TimeSpan.FromSeconds(10));

    /// <summary>
    /// Runs <paramref name="work"/> on the event thread after what is queued there now (serialised with the
    /// device-event callbacks). False, and nothing queued, once the Eal is disposed.
    /// </summary>
    internal bool TryPost(Action work)
    {
        lock (_coordinator.Gate)
        {
            if (_disposed)
                return false;
            _loop.Post(work);
            return true;
        }
    }

    /// <summary>For tests and replays: handles a uevent on the event thread exactly as if the monitor had received it.</summary>
    internal void InjectUevent(Uevent ev) => _loop.Post(() => _monitor.OnUevent(ev));

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>
    /// Stops the monitor, detaches every attached device, disables hotplug handling and stops the event thread.
    /// Stop the data paths first: as with <see cref="HotplugRemove(string, string)"/>, a thread still reading a
    /// device's BARs reads dead memory or gets an <see cref="ObjectDisposedException"/>, never unmapped memory.
    /// Device-event readers complete; registering after dispose throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        lock (_coordinator.Gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            _monitor.Stop(all: true);
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
            _handling.Disable(all: true);
        }
        _loop.Flush(TimeSpan.FromSeconds(10)); // deferred releases (vfio) run before the thread stops
        _loop.Dispose();
        DeviceEvents.Complete();
        Metrics.Dispose();
    }
}
