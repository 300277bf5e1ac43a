using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Hotplug.Dma;
using Hotplug.Uevents;
using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>
/// The PCI bus: devices from sysfs, drivers matched by id table, each attached device held by a
/// <see cref="PciAttachment"/> (sysfs resource, uio or vfio), and the two failure ops that make a vanished
/// device safe. Register it with <c>eal.Buses.AddPci(options)</c>; the core calls it under its lock.
/// </summary>
public sealed class PciBus : IBus
{
    private readonly PciDeviceTable _devices = new();
    private PciAttachContext? _context;
    private PciProber? _prober;
    private PciAutoAttach? _autoAttach;
    private readonly HashSet<PciAddress> _allow;
    private readonly HashSet<PciAddress> _block;
    private int _pendingReleases;
    private PciDmaAllocators? _dma;

    /// <summary>Creates the bus; register it with <c>eal.Buses.AddPci(options)</c> (or <see cref="BusRegistry.Register"/>).</summary>
    public PciBus(PciBusOptions? options = null)
    {
        Options = options ?? new PciBusOptions();
        Scanner = new SysfsPciScanner(Options.SysfsRoot);
        _allow = [.. Options.AllowList.Select(PciAddress.Parse)]; // a bad address fails here, up front
        _block = [.. Options.BlockList.Select(PciAddress.Parse)];
    }

    /// <inheritdoc />
    public string Name => "pci";

    /// <summary>The options it was made with.</summary>
    public PciBusOptions Options { get; }

    /// <summary>The sysfs reader.</summary>
    public SysfsPciScanner Scanner { get; }

    /// <inheritdoc />
    public IReadOnlyList<Device> Devices => _devices.Snapshot();

    /// <summary>The PCI devices known now, by address.</summary>
    public IReadOnlyList<PciDevice> PciDevices => _devices.Snapshot();

    /// <summary>The registered drivers, in probe order.</summary>
    public IReadOnlyList<PciDriver> Drivers => Prober.Drivers;

    /// <summary>True while a vfio device was asked for and not yet released (never rescan then).</summary>
    public bool ReleasePending => Volatile.Read(ref _pendingReleases) > 0;

    private PciProber Prober => _prober ?? throw new InvalidOperationException("The PCI bus is not registered with an Eal (eal.Buses.AddPci).");

    /// <inheritdoc />
    public void Attach(BusHost host)
    {
        if (_context is not null)
            throw new InvalidOperationException("The PCI bus is registered already.");
        var logger = host.LoggerFactory.CreateLogger<PciBus>();
        _context = new PciAttachContext(Options, host, new VfioContainer(Options.DevRoot, logger), logger);
        _prober = new PciProber(_context, _allow, _block, delta => Interlocked.Add(ref _pendingReleases, delta));
        _autoAttach = new PciAutoAttach(this, _prober, logger);
        _dma = new PciDmaAllocators(_context);
    }

    /// <summary>Adds a driver; drivers are tried in registration order.</summary>
    /// <exception cref="InvalidOperationException">The driver, or one with its name, is registered already.</exception>
    public void RegisterDriver(PciDriver driver) => Prober.Register(driver);

    /// <summary>
    /// DMA memory for <paramref name="device"/>, and bus mastering turned on (vfio-pci and uio_pci_generic leave it
    /// off). The allocator belongs to the bus and outlives the device: call this again after a re-attach and the same
    /// allocator comes back, its buffers at the same device addresses — vfio: IOVAs in the bus's container, mapped
    /// again into the new container on re-attach; uio: physical addresses (the device's IOMMU group must not
    /// translate; hugepages, root). The driver's <see cref="PciDriver.DmaMask"/> is honoured. Dispose it only when
    /// done with DMA for good (a later call creates a new one).
    /// </summary>
    /// <exception cref="InvalidOperationException">The device is not attached.</exception>
    /// <exception cref="DmaException">Its DMA cannot be made safe (the message says what to change).</exception>
    public DmaAllocator DmaFor(PciDevice device, DmaOptions? options = null) =>
        (_dma ?? throw new InvalidOperationException("The PCI bus is not registered with an Eal (eal.Buses.AddPci).")).For(device, options);

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
            var d = _devices.Find(info.Address);
            if (d is null)
            {
                _devices.Set(new PciDevice(this, info));
                added.Add(info.Address.ToString());
            }
            else if (d.State == DeviceState.Parsed)
            {
                d.Info = info; // a reused address gets the new function's ids
            }
            else if (d.State == DeviceState.Probed && !d.Info.SameIdentity(info))
            {
                // Another function took the address while ours is attached: ours is gone.
                _context!.Logger.LogWarning("{Device} now reports {Vendor:x4}:{DeviceId:x4}: the attached device was replaced", d.Name, info.VendorId, info.DeviceId);
                ReleaseNow(HotUnplugHandler(d));
                removed.Add(d.Name);
            }
            // Attached devices keep their info and mappings untouched.
        }
        foreach (var d in _devices.Snapshot().Where(d => !seen.Contains(d.Address)))
        {
            if (d.Driver is null)
            {
                _devices.Remove(d.Address);
            }
            else
            {
                // Attached devices stay listed (Removed) until the app detaches them: report them once.
                if (d.GoneReportedByScan)
                    continue;
                d.GoneReportedByScan = true;
                ReleaseNow(HotUnplugHandler(d));
            }
            removed.Add(d.Name);
        }
        return new BusScanResult(added, removed, errors);
    }

    private static void ReleaseNow(HotUnplugResult r) => r.DeferredRelease?.Invoke(); // a scan is not a removal path: no callbacks to wait for

    /// <inheritdoc />
    public int Probe()
    {
        int n = 0;
        foreach (var d in _devices.Snapshot().Where(d => d.State == DeviceState.Parsed))
        {
            try
            {
                if (Prober.TryProbe(d, out _))
                    n++;
            }
            catch (HotplugException e)
            {
                _context!.Logger.LogError(e, "Probing {Device} failed", d.Name);
            }
        }
        return n;
    }

    /// <inheritdoc />
    public Device? FindDevice(string name) => PciAddress.TryParse(name, out var a) ? Find(a) : null;

    /// <summary>The device at <paramref name="address"/>, or null.</summary>
    public PciDevice? Find(PciAddress address) => _devices.Find(address);

    /// <inheritdoc />
    public bool TryParseDeviceName(string name, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? error)
    {
        canonical = PciAddress.TryParse(name, out var a, out error) ? a.ToString() : null;
        return canonical is not null;
    }

    /// <inheritdoc />
    public Device Plug(string canonicalName, string? args)
    {
        var address = PciAddress.Parse(canonicalName);
        var d = _devices.Find(address);
        if (d is { Driver: not null })
            throw new HotplugException($"pci:{canonicalName} is attached already ({d.Driver.Name}, {d.State}); detach it first.");
        PciDeviceInfo info;
        try
        {
            info = Scanner.Read(address);
        }
        catch (DirectoryNotFoundException)
        {
            _devices.Remove(address);
            throw new DeviceNotFoundException(Name, canonicalName, $"not in {Scanner.Root}");
        }
        catch (SysfsFormatException e)
        {
            throw new HotplugException($"pci:{canonicalName} cannot be read: {e.Message}", e);
        }
        if (d is null)
        {
            _devices.Set(d = new PciDevice(this, info));
        }
        else
        {
            d.Info = info;
            d.SetState(DeviceState.Parsed);
        }
        d.SetArgs(args);
        if (!Prober.TryProbe(d, out string? why))
            throw new HotplugException($"pci:{canonicalName} was not attached: {why}");
        return d;
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
            _context!.Logger.LogError(e, "{Driver}.Remove({Device}) threw; detaching anyway", drv.Name, d.Name);
        }
        d.Attachment?.Release();
        d.Attachment = null;
        bool gone = d.State is DeviceState.Removed or DeviceState.Fault;
        d.SetAttached(null, DeviceState.Parsed, 0);
        if (gone)
            _devices.Remove(d.Address); // a rescan or plug reads the new device fresh
        _context!.Logger.LogInformation("{Device} detached", d.Name);
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public HotUnplugResult HotUnplugHandler(Device device)
    {
        if (device is not PciDevice d || d.State != DeviceState.Probed)
            return HotUnplugResult.NotHandled; // not ours, or not attached
        // A device that is gone has its BARs made dead memory now; one vfio asks back still answers, and is
        // quiesced and remapped after the callbacks (the app hears first). The uio node and the vfio device fd are
        // closed right after the REMOVE callbacks (a close of a departing device can take milliseconds). A detach
        // from inside the callbacks does all of it at once; the deferred step is then a no-op.
        var release = d.Attachment?.HotUnplug(Quiesce);
        d.SetState(DeviceState.Removed);
        return new HotUnplugResult(true, new ReleaseThenLog(this, d, release).Run); // the log comes after the app heard
    }

    /// <summary>The deferred release of a removed device, then its log line (a named type: no closure on the removal path).</summary>
    private sealed class ReleaseThenLog(PciBus bus, PciDevice device, Action? release)
    {
        public void Run()
        {
            try
            {
                release?.Invoke();
            }
            finally
            {
                bus._context!.Logger.DeviceGone(device.Name, bus.Options.RemapFill);
            }
        }
    }

    private void Quiesce(PciDevice d)
    {
        try
        {
            d.Driver?.Quiesce(d);
        }
        catch (Exception e)
        {
            _context!.Logger.LogError(e, "{Driver}.Quiesce({Device}) threw; releasing it anyway", d.Driver?.Name, d.Name);
        }
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public SigbusResult SigbusHandler(Device device, nint faultAddress) =>
        device is PciDevice { Attachment: not null } ? SigbusResult.Handled : SigbusResult.NotMine; // cookies die with the attachment

    /// <inheritdoc />
    public void ObserveUevent(Uevent uevent) => _autoAttach?.Observe(uevent);

    /// <inheritdoc />
    public bool TryMapUevent(Uevent uevent, [NotNullWhen(true)] out string? deviceName, out DeviceEventType type) =>
        PciUeventMap.TryMap(uevent, this, out deviceName, out type);

    /// <summary>Test hook: watch an eventfd as if it were the device's vfio request interrupt (the same notifier path).</summary>
    internal IDisposable WatchRequestEventFd(PciDevice d, int eventFd) =>
        VfioRequestNotifier.Watch(_context!.Host.Loop, eventFd,
            () => _context.Host.ReportRemoval(d, DeviceEventSource.VfioRequest, BusHost.MonotonicNs()));

    /// <inheritdoc />
    public void WarmRemovalPath()
    {
        RemovalPathWarmup.Prepare(typeof(PciAttachment), nameof(PciAttachment.HotUnplug), "RemapBars");
        RemovalPathWarmup.Prepare(typeof(MappedBar), "Remap", nameof(MappedBar.Contains), "get_IsRemapped");
        RemovalPathWarmup.Prepare(typeof(UioWatch), nameof(UioWatch.Close));
        RemovalPathWarmup.Prepare(typeof(PciLog), nameof(PciLog.DeviceGone));
        RemovalPathWarmup.Prepare(typeof(ReleaseThenLog), System.Reflection.ConstructorInfo.ConstructorName, nameof(ReleaseThenLog.Run));
        _ = _devices.Find(default); // the sorted table's generic code
    }
}
