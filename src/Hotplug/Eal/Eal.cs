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
public sealed partial class Eal : IDisposable
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
