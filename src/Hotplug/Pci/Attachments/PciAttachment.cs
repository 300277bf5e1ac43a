using System.Runtime.CompilerServices;
using Hotplug.Interrupts;

namespace Hotplug.Pci;

/// <summary>
/// One way of holding a PCI device (DPDK's uio / vfio split): the attachment owns the device's BAR mappings, its
/// removal watch, its hot-unplug (remap now, release later), its release and its config space. Its life: opened
/// (device handle, then the removal watch — armed BEFORE the BARs are mapped and the driver probes, so a removal
/// during attach is never missed — then the BARs), committed when the driver accepted the device, unplugged when
/// the device goes, released when the app detaches.
/// </summary>
internal abstract class PciAttachment : IDisposable
{
    private MappedBar[] _bars = []; // copy-on-write under _commit: readers (the data path's Bar(n)) take it without a lock or a copy
    private readonly Lock _commit = new();
    private bool _committed;
    private bool _revoked;
    private int _released;
    private InterruptSet? _interrupts;
    private Action<PciDevice>? _pendingQuiesce; // vfio's request: the driver's quiesce, run in the release step

    protected PciAttachment(PciDevice device, PciAttachContext context)
    {
        Device = device;
        Context = context;
    }

    public PciDevice Device { get; }

    protected PciAttachContext Context { get; }

    public IReadOnlyList<MappedBar> Bars => Volatile.Read(ref _bars);

    /// <summary>True when the kernel asked for the device back (vfio's request) rather than removing it first: it still answers.</summary>
    protected bool StillAnswers { get; set; }

    /// <summary>True once a removal signal arrived before the attach was committed.</summary>
    public bool Revoked { get { lock (_commit) return _revoked; } }

    /// <summary>Opens the device, arms the removal watch, maps the memory BARs. On failure everything taken is released.</summary>
    public void Open()
    {
        try
        {
            OpenDevice();
            ArmRemovalWatch();
            int map = 0;
            foreach (var bar in Device.Info.Bars.Where(b => b.IsPresent && b.IsMemory))
            {
                ulong cookie = Context.Host.RegisterFaultOwner(Device);
                try
                {
                    var mapped = MapBar(bar, map++, cookie);
                    lock (_commit)
                    {
                        _bars = [.. _bars, mapped];
                        if (_revoked)
                            mapped.Remap(); // the device went while we were mapping it
                    }
                }
                catch
                {
                    Context.Host.ForgetFaultOwner(cookie);
                    throw;
                }
            }
        }
        catch
        {
            Release();
            throw;
        }
    }

    /// <summary>The driver accepted the device. False if a removal signal came first (then the attach must fail).</summary>
    public bool Commit()
    {
        lock (_commit)
        {
            _committed = !_revoked;
            return _committed;
        }
    }

    protected abstract void OpenDevice();

    protected abstract void ArmRemovalWatch();

    protected abstract MappedBar MapBar(BarInfo bar, int mapIndex, ulong cookie);

    /// <summary>Reads config space at <paramref name="offset"/>.</summary>
    public abstract void ReadConfig(int offset, Span<byte> into);

    /// <summary>Writes config space at <paramref name="offset"/>.</summary>
    public abstract void WriteConfig(int offset, ReadOnlySpan<byte> data);

    /// <summary>The interrupt mechanism of this attachment for <paramref name="kind"/>.</summary>
    /// <exception cref="NotSupportedException">This attachment offers no interrupt of that kind.</exception>
    protected abstract InterruptBackend CreateInterruptBackend(InterruptKind kind);

    /// <summary>Sets up <paramref name="count"/> vectors of <paramref name="kind"/>, replacing any set up before.</summary>
    public IReadOnlyList<InterruptVector> EnableInterrupts(InterruptKind kind, int count)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
        Interlocked.Exchange(ref _interrupts, null)?.Dispose();
        var set = new InterruptSet(Context.Host.Loop, CreateInterruptBackend(kind), Context.Logger);
        try
        {
            var vectors = set.Enable(kind, count);
            _interrupts = set;
            return vectors;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>Lets go of what the kernel may wait for (device fd, watch); called once, from <see cref="Release"/> or a revoke.</summary>
    protected abstract void ReleaseKernelHandles();

    /// <summary>What to release right after the REMOVE callbacks, when the device is gone (null: nothing to hurry).</summary>
    protected abstract Action? DeferredReleaseOnUnplug();

    /// <summary>
    /// The attachment's own removal watch fired (on the event thread). Before the attach is committed the core's
    /// lock may be held by the attaching thread (a slow probe), so the device is made safe and let go here, at
    /// once; either way the core then handles the removal.
    /// </summary>
    protected void OnRemovalSignal(DeviceEventSource source)
    {
        long now = BusHost.MonotonicNs();
        bool early;
        lock (_commit)
        {
            early = !_committed && !_revoked;
            _revoked |= early;
        }
        if (early)
        {
            Volatile.Read(ref _interrupts)?.DeviceGone();
            RemapBars();
            ReleaseOnce();
        }
        Context.Host.ReportRemoval(Device, source, now);
    }

    /// <summary>
    /// The device is gone or going. Interrupt waiters end now. A device that is gone (uio hang-up, uevent, SIGBUS)
    /// has its BARs made dead memory now, before the REMOVE is published; the kernel's handles go after the
    /// callbacks. A device the kernel asks back (vfio's request) still answers until it is let go, so the app hears
    /// first (as early as DPDK tells its apps): the driver's <paramref name="quiesce"/> and the remap run in the
    /// release step, right after the callbacks, or at once if the app detaches in its callback.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public Action? HotUnplug(Action<PciDevice>? quiesce = null)
    {
        Volatile.Read(ref _interrupts)?.DeviceGone(); // every waiter completes now with DeviceRemoved, never a hang
        var release = DeferredReleaseOnUnplug();
        if (!StillAnswers)
        {
            RemapBars();
            return release;
        }
        Volatile.Write(ref _pendingQuiesce, quiesce ?? NoQuiesce);
        return new SafeThenRelease(this, release).Run;
    }

    private static void NoQuiesce(PciDevice device) { }

    /// <summary>The release step of a device the kernel asked back: quiesce it (it still answers), remap, then let go.</summary>
    private sealed class SafeThenRelease(PciAttachment attachment, Action? release)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
        public void Run()
        {
            attachment.MakeSafe();
            release?.Invoke();
        }
    }

    /// <summary>Runs a pending quiesce (once) and makes the BARs dead memory, before anything is let go.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    private void MakeSafe()
    {
        if (Interlocked.Exchange(ref _pendingQuiesce, null) is not { } quiesce)
            return;
        quiesce(Device); // the bus's quiesce logs a driver that throws
        RemapBars();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    private void RemapBars()
    {
        foreach (var bar in Volatile.Read(ref _bars))
            bar.Remap();
    }

    /// <summary>Unmaps the BARs (dead memory first), forgets their fault cookies and releases the kernel's handles. Idempotent.</summary>
    public void Release()
    {
        MakeSafe(); // a device the kernel asked back: quiesced while it still answers, before its handles go
        MappedBar[] bars;
        lock (_commit)
        {
            bars = _bars;
            _bars = [];
        }
        foreach (var bar in bars)
        {
            bar.Dispose();
            Context.Host.ForgetFaultOwner(bar.Cookie);
        }
        ReleaseOnce();
    }

    private void ReleaseOnce()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
            return;
        Interlocked.Exchange(ref _interrupts, null)?.Dispose(); // disabled before the device fd or node closes
        ReleaseKernelHandles();
    }

    public void Dispose() => Release();
}
