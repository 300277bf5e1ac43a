using System.Runtime.CompilerServices;
using System.Diagnostics.CodeAnalysis;
using Hotplug.Eal;
using Hotplug.Events;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotplug.Pci;

/// <summary>
/// The PCI bus: devices from sysfs, drivers matched by id table, BARs mapped through sysfs, uio or
/// vfio, and the two failure ops that make a vanished device safe. Called under the Eal's lock.
/// </summary>
public sealed partial class PciBus : IBus
{
    // Changed only under the Eal's lock; _sync also guards it so an app thread can take a snapshot or look a
    // device up while the event thread changes it.
    private readonly SortedDictionary<PciAddress, PciDevice> _devices = [];
    private readonly Lock _sync = new();
    private readonly List<PciDriver> _drivers = [];
    private readonly HashSet<PciAddress> _allow;
    private readonly HashSet<PciAddress> _block;
    private BusHost? _host;
    private ILogger _logger = NullLogger.Instance;
    private VfioContainer? _vfio;
    private ulong _nextCookie = 1;
    private int _pendingReleases;

    /// <summary>Creates the bus; register it with <see cref="BusRegistry.Register"/> (an <see cref="Eal"/> does that itself).</summary>
    public PciBus(PciBusOptions? options = null)
    {
        Options = options ?? new PciBusOptions();
        Scanner = new SysfsPciScanner(Options.SysfsRoot);
        _allow = [.. Options.AllowList.Select(PciAddress.Parse)];
        _block = [.. Options.BlockList.Select(PciAddress.Parse)];
    }

    /// <inheritdoc />
    public string Name => "pci";

    /// <summary>The options it was made with.</summary>
    public PciBusOptions Options { get; }

    /// <summary>The sysfs reader.</summary>
    public SysfsPciScanner Scanner { get; }

    /// <inheritdoc />
    public IReadOnlyList<Device> Devices { get { lock (_sync) return [.. _devices.Values]; } }

    /// <summary>The PCI devices known now, by address.</summary>
    public IReadOnlyList<PciDevice> PciDevices { get { lock (_sync) return [.. _devices.Values]; } }

    /// <summary>The registered drivers, in probe order.</summary>
    public IReadOnlyList<PciDriver> Drivers => _drivers;

    /// <summary>True while a vfio device was asked for and not yet released (never rescan then).</summary>
    public bool VfioReleasePending => _pendingReleases > 0;

    private BusHost Host => _host ?? throw new InvalidOperationException("The PCI bus is not registered with an Eal.");

    /// <inheritdoc />
    public void Attach(BusHost host)
    {
        if (_host is not null)
            throw new InvalidOperationException("The PCI bus is registered already.");
        _host = host;
        _logger = host.LoggerFactory.CreateLogger<PciBus>();
        _vfio = new VfioContainer(Options.DevRoot, _logger);
    }

    /// <summary>Adds a driver; drivers are tried in registration order.</summary>
    /// <exception cref="InvalidOperationException">The driver, or one with its name, is registered already.</exception>
    public void RegisterDriver(PciDriver driver)
    {
        ArgumentNullException.ThrowIfNull(driver);
        if (_drivers.Any(d => d == driver || d.Name == driver.Name))
            throw new InvalidOperationException($"A PCI driver named '{driver.Name}' is registered already.");
        _drivers.Add(driver);
    }

    /// <inheritdoc />
    public BusScanResult Scan()
    {
        var errors = new List<string>();
        var infos = Scanner.ScanAll(errors);
        var added = new List<string>();
        var removed = new List<string>();
        var seen = new HashSet<PciAddress>();
        foreach (var info in infos)
        {
            seen.Add(info.Address);
            if (!_devices.TryGetValue(info.Address, out var d))
            {
                SetDevice(info.Address, new PciDevice(this, info));
                added.Add(info.Address.ToString());
            }
            else if (d.State == DeviceState.Parsed)
            {
                d.Info = info; // a reused address gets the new function's ids
            }
            else if (d.State == DeviceState.Probed && !d.Info.SameIdentity(info))
            {
                // Another function took the address while ours is attached: ours is gone.
                _logger.LogWarning("{Device} now reports {Vendor:x4}:{DeviceId:x4}: the attached device was replaced", d.Name, info.VendorId, info.DeviceId);
                HotUnplugHandler(d);
                removed.Add(d.Name);
            }
            // Attached devices keep their info and mappings untouched.
        }
        foreach (var d in _devices.Values.Where(d => !seen.Contains(d.Address)).ToList())
        {
            if (d.Driver is null)
            {
                RemoveDevice(d.Address);
            }
            else
            {
                // Attached devices stay listed (Removed) until the app detaches them: report them once.
                if (d.GoneReportedByScan)
                    continue;
                d.GoneReportedByScan = true;
                HotUnplugHandler(d);
            }
            removed.Add(d.Name);
        }
        return new BusScanResult(added, removed, errors);
    }

    /// <inheritdoc />
    public int Probe()
    {
        int n = 0;
        foreach (var d in _devices.Values.Where(d => d.State == DeviceState.Parsed).ToList())
        {
            try
            {
                if (TryProbe(d, out _))
                    n++;
            }
            catch (HotplugException e)
            {
                _logger.LogError(e, "Probing {Device} failed", d.Name);
            }
        }
        return n;
    }

    /// <inheritdoc />
    public Device? FindDevice(string name) =>
        PciAddress.TryParse(name, out var a) ? Find(a) : null;

    /// <summary>The device at <paramref name="address"/>, or null.</summary>
    public PciDevice? Find(PciAddress address)
    {
        lock (_sync)
            return _devices.GetValueOrDefault(address);
    }

    private void SetDevice(PciAddress address, PciDevice device)
    {
        lock (_sync)
            _devices[address] = device;
    }

    private void RemoveDevice(PciAddress address)
    {
        lock (_sync)
            _devices.Remove(address);
    }

    /// <inheritdoc />
    public bool TryParseDeviceName(string name, [NotNullWhen(true)] out string? canonical)
    {
        canonical = PciAddress.TryParse(name, out var a) ? a.ToString() : null;
        return canonical is not null;
    }

    /// <inheritdoc />
    public Device Plug(string canonicalName, string? args)
    {
        var address = PciAddress.Parse(canonicalName);
        if (_devices.TryGetValue(address, out var d) && d.Driver is not null)
            throw new HotplugException($"pci:{canonicalName} is attached already ({d.Driver.Name}, {d.State}); detach it first.");
        PciDeviceInfo info;
        try
        {
            info = Scanner.Read(address);
        }
        catch (DirectoryNotFoundException)
        {
            RemoveDevice(address);
            throw new DeviceNotFoundException(Name, canonicalName, $"not in {Scanner.Root}");
        }
        catch (SysfsFormatException e)
        {
            throw new HotplugException($"pci:{canonicalName} cannot be read: {e.Message}", e);
        }
        if (d is null)
            SetDevice(address, d = new PciDevice(this, info));
        else
        {
            d.Info = info;
            d.SetState(DeviceState.Parsed);
        }
        d.SetArgs(args);
        if (!TryProbe(d, out string? why))
            throw new HotplugException($"pci:{canonicalName} was not attached: {why}");
        return d;
    }

    /// <summary>Attaches the first matching driver that accepts the device. False with the reason if none did.</summary>
    private bool TryProbe(PciDevice d, out string? why)
    {
        why = null;
        if (d.State != DeviceState.Parsed)
        {
            why = $"it is {d.State}";
            return false;
        }
        if (_block.Contains(d.Address) || (_allow.Count > 0 && !_allow.Contains(d.Address)))
        {
            why = "it is not allowed (allow/block list)";
            return false;
        }
        var candidates = _drivers.Where(drv => drv.Matches(d.Info)).ToList();
        if (candidates.Count == 0)
        {
            why = $"no registered driver matches {d.Info.VendorId:x4}:{d.Info.DeviceId:x4}";
            return false;
        }
        foreach (var drv in candidates)
        {
            if (drv.NeedsMapping && d.Info.KernelDriver is PciKernelDriver.None or PciKernelDriver.Other)
            {
                why = d.Info.KernelDriver == PciKernelDriver.None
                    ? "no kernel driver is bound (bind uio_pci_generic, igb_uio or vfio-pci); it is never mapped"
                    : $"it belongs to the kernel driver {d.Info.KernelDriverName}";
                continue;
            }
            try
            {
                if (drv.NeedsMapping)
                    MapResources(d);
                if (!drv.Probe(d))
                {
                    ReleaseResources(d);
                    why = $"{drv.Name} declined it";
                    continue;
                }
            }
            catch (Exception e)
            {
                // Whatever was thrown (a HotplugException too), undo the mapping before it propagates.
                ReleaseResources(d);
                if (e is HotplugException)
                    throw;
                throw new HotplugException($"{drv.Name} failed to probe pci:{d.Name}: {e.Message}", e);
            }
            d.SetAttached(drv, DeviceState.Probed);
            WatchRemoval(d);
            _logger.LogInformation("{Device} attached to {Driver}", d.Name, drv.Name);
            return true;
        }
        return false;
    }

    private void MapResources(PciDevice d)
    {
        var fill = Options.RemapFill;
        var bars = d.Info.Bars.Where(b => b.IsPresent && b.IsMemory).ToList();
        switch (d.Info.KernelDriver)
        {
            case PciKernelDriver.VfioPci:
                string group = d.Info.IommuGroup is { } g ? g.ToString(System.Globalization.CultureInfo.InvariantCulture)
                    : throw new IOException($"{d.Name} is bound to vfio-pci but has no iommu_group");
                if (!File.Exists(Path.Combine(Options.DevRoot, "vfio", group)) && File.Exists(Path.Combine(Options.DevRoot, "vfio", "noiommu-" + group)))
                    group = "noiommu-" + group;
                d.Vfio = VfioDevice.Open(_vfio!, group, d.Address);
                foreach (var bar in bars)
                    d.MappedBars.Add(d.Vfio.MapBar(bar, fill, _nextCookie++));
                break;
            default:
                int map = 0;
                foreach (var bar in bars)
                {
                    d.MappedBars.Add(Options.MapUioThroughDevNode && d.Info.UioName is { } uio
                        ? BarMapper.MapUio(Path.Combine(Options.DevRoot, uio), map++, bar, fill, _nextCookie++)
                        : BarMapper.MapSysfsResource(d.Info, bar, fill, _nextCookie++));
                }
                break;
        }
    }

    private void WatchRemoval(PciDevice d)
    {
        var host = Host;
        if (d.Info.UioName is { } uio && d.Info.KernelDriver is PciKernelDriver.UioPciGeneric or PciKernelDriver.IgbUio)
        {
            string node = Path.Combine(Options.DevRoot, uio);
            try
            {
                d.UioWatch = UioWatch.Open(node, host.Loop, () => host.ReportRemoval(d, DeviceEventSource.Uio, BusHost.MonotonicNs()));
            }
            catch (IOException e)
            {
                _logger.LogWarning("Cannot watch {Node} for removal ({Error}); uevents and SIGBUS still report it", node, e.Message);
            }
        }
        if (d.Vfio is { } vfio)
        {
            bool ok = vfio.WatchRequests(host.Loop, () => host.ReportRemoval(d, DeviceEventSource.VfioRequest, BusHost.MonotonicNs()));
            if (!ok)
                _logger.LogWarning("{Device}: this kernel offers no vfio request interrupt", d.Name);
        }
    }

    /// <summary>Test hook: watch an eventfd as if it were the device's vfio request interrupt (the same notifier path).</summary>
    internal IDisposable WatchRequestEventFd(PciDevice d, int eventFd) =>
        VfioRequestNotifier.Watch(Host.Loop, eventFd, () => Host.ReportRemoval(d, DeviceEventSource.VfioRequest, BusHost.MonotonicNs()));

    private static void ReleaseResources(PciDevice d)
    {
        d.UioWatch?.Dispose();
        d.UioWatch = null;
        foreach (var bar in d.MappedBars)
            bar.Dispose();
        d.MappedBars.Clear();
        d.Vfio?.Release();
        d.Vfio = null;
    }

    /// <inheritdoc />
    public void Unplug(Device device)
    {
        var d = (PciDevice)device;
        var drv = d.Driver ?? throw new HotplugException($"pci:{d.Name} is not attached.");
        try
        {
            drv.Remove(d);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "{Driver}.Remove({Device}) threw; detaching anyway", drv.Name, d.Name);
        }
        ReleaseResources(d);
        bool gone = d.State is DeviceState.Removed or DeviceState.Fault;
        d.SetAttached(null, DeviceState.Parsed);
        if (gone)
            RemoveDevice(d.Address); // a rescan or plug reads the new device fresh
        _logger.LogInformation("{Device} detached", d.Name);
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public bool HotUnplugHandler(Device device)
    {
        if (device is not PciDevice d || d.State != DeviceState.Probed)
            return false; // not ours, or not attached
        foreach (var bar in d.MappedBars)
            bar.Remap();
        // The uio node and the vfio device fd are closed right after the REMOVE callbacks, not before
        // them: a close of a departing device can take milliseconds, and the data path is safe already
        // (the remap above). Closing the vfio fd is what lets the kernel finish the removal.
        // A detach from inside the callbacks closes them at once; the deferred close is then a no-op.
        if (d.UioWatch is { } watch)
            Host.AfterCallbacks(watch.Close);
        if (d.Vfio is { } vfio)
        {
            _pendingReleases++;
            Host.AfterCallbacks(() =>
            {
                try
                {
                    vfio.Release();
                }
                finally
                {
                    _pendingReleases--;
                }
            });
        }
        d.SetState(DeviceState.Removed);
        RemovalPathLog.DeviceGone(_logger, d.Name, Options.RemapFill);
        return true;
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public SigbusResult SigbusHandler(nint faultAddress, out Device? device)
    {
        foreach (var d in _devices.Values)
        {
            foreach (var bar in d.MappedBars)
            {
                if (bar.Contains(faultAddress))
                {
                    device = d;
                    return SigbusResult.Handled;
                }
            }
        }
        device = null;
        return SigbusResult.NotMine;
    }

    /// <inheritdoc />
    public bool TryMapUevent(Uevent uevent, [NotNullWhen(true)] out string? deviceName, out DeviceEventType type)
    {
        return PciUeventMap.TryMap(uevent, this, out deviceName, out type);
    }

    /// <summary>Reads config space of an attached vfio device through its config region.</summary>
    /// <exception cref="InvalidOperationException">The device is not attached through vfio.</exception>
    public void ReadConfig(PciDevice device, int offset, Span<byte> into) =>
        (device.Vfio ?? throw new InvalidOperationException($"{device.Name} is not attached through vfio.")).ReadConfig(offset, into);

    /// <summary>Writes config space of an attached vfio device through its config region.</summary>
    /// <exception cref="InvalidOperationException">The device is not attached through vfio.</exception>
    public void WriteConfig(PciDevice device, int offset, ReadOnlySpan<byte> data) =>
        (device.Vfio ?? throw new InvalidOperationException($"{device.Name} is not attached through vfio.")).WriteConfig(offset, data);
}
