using System.Diagnostics;
using System.Text;
using Hotplug.Dma;
using Hotplug.Pci;
using static Hotplug.Nvme.NvmeRegisters;

namespace Hotplug.Nvme;

/// <summary>
/// One NVMe controller driven from user space, polled (SPDK's <c>spdk_nvme_ctrlr</c>): reset, admin queues in DMA
/// memory, enable, IDENTIFY, I/O queue pairs (<see cref="CreateQueuePair"/>, one per caller thread).
/// When the device goes (<see cref="OnRemoved"/>, or a register or completion that reads all-ones) every
/// outstanding command completes at once with <see cref="NvmeStatus.ControllerRemoved"/> and new ones fail the same
/// way. Re-attach: a new controller on the re-added device with the same <see cref="DmaAllocator"/>.
/// </summary>
public sealed partial class NvmeController : IDisposable
{
    private const int AdminDepth = 32;
    private readonly Lock _adminLock = new();
    private readonly Lock _queuesLock = new();
    private readonly List<NvmeQueue> _queues = [];
    private readonly Dictionary<uint, NvmeNamespace> _namespaces = [];
    private readonly bool[] _qidUsed;
    private readonly NvmeQueue _admin;
    private readonly TimeSpan _timeout;
    private int _failure; // 0 while alive, else the NvmeStatus code everything fails with
    private volatile bool _closed;
    private bool _disposed;

    private NvmeController(PciDevice device, DmaAllocator dma, ulong cap)
    {
        Device = device;
        Dma = dma;
        Bar = device.Bar(0);
        Capabilities = cap;
        DoorbellStride = NvmeRegisters.DoorbellStride(cap);
        _timeout = Timeout(cap);
        _admin = new NvmeQueue(this, 0, AdminDepth);
        _qidUsed = new bool[65536];
    }

    /// <summary>The PCI device.</summary>
    public PciDevice Device { get; }

    /// <summary>Where the queues and the callers' buffers live.</summary>
    public DmaAllocator Dma { get; }

    /// <summary>CAP.</summary>
    public ulong Capabilities { get; }

    /// <summary>VS (major in 31:16, minor in 15:8).</summary>
    public uint Version { get; private set; }

    /// <summary>Model number (IDENTIFY controller MN).</summary>
    public string Model { get; private set; } = "";

    /// <summary>Serial number (SN).</summary>
    public string Serial { get; private set; } = "";

    /// <summary>Firmware revision (FR).</summary>
    public string Firmware { get; private set; } = "";

    /// <summary>Number of namespaces (NN).</summary>
    public uint NamespaceCount { get; private set; }

    /// <summary>The largest transfer of one command (MDTS, at most 2 MiB: one PRP list page).</summary>
    public int MaxTransferBytes { get; private set; }

    /// <summary>I/O queue pairs the controller granted (Set Features, number of queues).</summary>
    public int MaxQueuePairs { get; private set; }

    /// <summary>Entries per I/O queue the controller allows (CAP.MQES + 1).</summary>
    public int MaxQueueDepth => Mqes(Capabilities);

    /// <summary>How long each step of <see cref="Attach"/> took.</summary>
    public NvmeAttachTimings Timings { get; private set; }

    /// <summary>How the last <see cref="Shutdown"/> went: null if none, else the time to SHST=complete (or the timeout) and whether it completed.</summary>
    public (TimeSpan Elapsed, bool Completed)? LastShutdown { get; private set; }

    /// <summary>True once the controller is gone, failed or shut down: nothing is sent any more.</summary>
    public bool IsRemoved => Volatile.Read(ref _failure) != 0 || _closed;

    internal MappedBar Bar { get; }

    internal int DoorbellStride { get; }

    internal bool HasFailed => Volatile.Read(ref _failure) != 0;

    internal NvmeStatus Failure => _failure == 0 ? NvmeStatus.ControllerRemoved : new(_failure);

    /// <summary>
    /// Resets the controller at <paramref name="device"/> (attached, BAR0 mapped), sets up the admin queues in
    /// <paramref name="dma"/>, enables it and identifies it. A re-added device takes the allocator it had before.
    /// </summary>
    /// <exception cref="NvmeException">The controller does not answer, does not get ready within CAP.TO, or an admin command fails.</exception>
    public static NvmeController Attach(PciDevice device, DmaAllocator dma)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(dma);
        var bar = device.Bar(0);
        ulong cap = bar.Read64(Cap);
        if (cap == ulong.MaxValue)
            throw new NvmeException($"{device.Name}: CAP reads all-ones: the controller is gone.", NvmeStatus.ControllerRemoved);
        if (MinPageSize(cap) > PageSize)
            throw new NvmeException($"{device.Name}: the controller's smallest page is {MinPageSize(cap)} bytes; this driver uses 4 KiB.");
        if (((cap >> 37) & 1) == 0)
            throw new NvmeException($"{device.Name}: the controller does not support the NVM command set (CAP.CSS).");
        device.Config.EnableBusMastering(); // the controller reads its queues by DMA (a re-added function starts with it off)
        var c = new NvmeController(device, dma, cap);
        try
        {
            c.Initialize();
        }
        catch
        {
            c.Dispose();
            throw;
        }
        (device.Driver as NvmeDriver)?.Register(device, c);
        return c;
    }

    private void Initialize()
    {
        var sw = Stopwatch.StartNew();
        Version = Bar.Read32(Vs);
        uint cc = Bar.Read32(Cc);
        if ((cc & CcEnable) != 0)
            Bar.Write32(Cc, cc & ~CcEnable);
        WaitReady(false, "reset (CC.EN=0)");
        var reset = sw.Elapsed;
        Bar.Write32(Intms, AllOnes); // polled: no interrupts
        Bar.Write32(Aqa, (uint)((AdminDepth - 1) | ((AdminDepth - 1) << 16)));
        Bar.Write64(Asq, _admin.SqIova);
        Bar.Write64(Acq, _admin.CqIova);
        Bar.Write32(Cc, CcIosqes | CcIocqes | CcEnable); // CSS 0 (NVM), MPS 0 (4 KiB), AMS round robin
        WaitReady(true, "enable (CC.EN=1)");
        var enable = sw.Elapsed;
        IdentifyController();
        var identify = sw.Elapsed;
        var features = NvmeCommand.Create(NvmeOpcode.SetFeatures);
        features.Cdw10 = 0x07; // number of queues
        features.Cdw11 = 62u | (62u << 16);
        uint granted = Admin(ref features, null, "Set Features (number of queues)");
        MaxQueuePairs = (int)Math.Min(granted & 0xFFFF, granted >> 16) + 1;
        Timings = new NvmeAttachTimings(reset, enable - reset, identify - enable, sw.Elapsed);
    }

    private void WaitReady(bool ready, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            uint csts = Bar.Read32(Csts);
            if (csts == AllOnes)
                throw new NvmeException($"{Device.Name}: CSTS reads all-ones during {what}: the controller is gone.", NvmeStatus.ControllerRemoved);
            if (ready && (csts & CstsFatal) != 0)
                throw new NvmeException($"{Device.Name}: controller fatal status (CSTS 0x{csts:x}) during {what}.", NvmeStatus.ControllerFailed);
            if (((csts & CstsReady) != 0) == ready)
                return;
            if (sw.Elapsed > _timeout)
                throw new NvmeException($"{Device.Name}: CSTS.RDY did not become {(ready ? 1 : 0)} within CAP.TO ({_timeout.TotalMilliseconds:F0} ms) during {what} (CSTS 0x{csts:x}).");
            Thread.Sleep(1);
        }
    }

    private void IdentifyController()
    {
        using var data = Dma.Allocate(PageSize, PageSize);
        var id = NvmeCommand.Create(NvmeOpcode.Identify);
        id.Cdw10 = 1; // CNS 01h: controller
        Admin(ref id, data, "IDENTIFY controller");
        var s = data.AsSpan();
        Serial = Ascii(s[4..24]);
        Model = Ascii(s[24..64]);
        Firmware = Ascii(s[64..72]);
        int mdts = s[77];
        long max = mdts == 0 ? 2 << 20 : (long)PageSize << mdts;
        MaxTransferBytes = (int)Math.Min(max, 2 << 20);
        NamespaceCount = BitConverter.ToUInt32(s[516..520]);
    }

    private static string Ascii(ReadOnlySpan<byte> field) => Encoding.ASCII.GetString(field).TrimEnd(' ', '\0');

    /// <summary>IDENTIFY namespace <paramref name="nsid"/> (cached).</summary>
    /// <exception cref="ArgumentOutOfRangeException">There is no such namespace (0, above NN, or inactive); nothing is sent for 0 or above NN.</exception>
    public NvmeNamespace Namespace(uint nsid)
    {
        if (nsid == 0 || nsid > NamespaceCount)
            throw new ArgumentOutOfRangeException(nameof(nsid), nsid, $"{Device.Name} has namespaces 1..{NamespaceCount}.");
        lock (_adminLock)
            if (_namespaces.TryGetValue(nsid, out var known))
                return known;
        using var data = Dma.Allocate(PageSize, PageSize);
        var id = NvmeCommand.Create(NvmeOpcode.Identify, nsid);
        Admin(ref id, data, $"IDENTIFY namespace {nsid}");
        var s = data.AsSpan();
        ulong size = BitConverter.ToUInt64(s[0..8]);
        if (size == 0)
            throw new ArgumentOutOfRangeException(nameof(nsid), nsid, $"Namespace {nsid} of {Device.Name} is not active.");
        int format = s[26] & 0xF;
        int lbads = s[128 + format * 4 + 2];
        var ns = new NvmeNamespace(nsid, size, 1 << lbads);
        lock (_adminLock)
            _namespaces[nsid] = ns;
        return ns;
    }

    /// <summary>
    /// A new I/O queue pair (an I/O completion queue and submission queue, polled) for namespace
    /// <paramref name="nsid"/>. Use it from one thread at a time (as SPDK's qpairs).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No such namespace, or a depth outside 2..CAP.MQES+1.</exception>
    /// <exception cref="NvmeException">No queue id left, or the controller refused or is gone.</exception>
    public NvmeQueuePair CreateQueuePair(uint nsid = 1, int depth = 128)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(depth, Math.Min(MaxQueueDepth, 4096));
        var ns = Namespace(nsid);
        ushort qid;
        lock (_queuesLock)
        {
            qid = 0;
            for (int i = 1; i <= MaxQueuePairs; i++)
                if (!_qidUsed[i]) { qid = (ushort)i; break; }
            if (qid == 0)
                throw new NvmeException($"{Device.Name}: all {MaxQueuePairs} I/O queue pairs are in use.");
            _qidUsed[qid] = true;
        }
        var q = new NvmeQueue(this, qid, depth);
        try
        {
            var cq = NvmeCommand.Create(NvmeOpcode.CreateIoCq);
            cq.Prp1 = q.CqIova;
            cq.Cdw10 = qid | ((uint)(depth - 1) << 16);
            cq.Cdw11 = 1; // physically contiguous, interrupts off
            Admin(ref cq, null, $"Create I/O CQ {qid}");
            var sq = NvmeCommand.Create(NvmeOpcode.CreateIoSq);
            sq.Prp1 = q.SqIova;
            sq.Cdw10 = qid | ((uint)(depth - 1) << 16);
            sq.Cdw11 = 1 | ((uint)qid << 16);
            Admin(ref sq, null, $"Create I/O SQ {qid}");
        }
        catch
        {
            q.Dispose();
            lock (_queuesLock) _qidUsed[qid] = false;
            throw;
        }
        lock (_queuesLock) _queues.Add(q);
        return new NvmeQueuePair(this, q, ns);
    }

    internal void DeleteQueuePair(NvmeQueue q)
    {
        lock (_queuesLock) _queues.Remove(q);
        if (!IsRemoved)
        {
            try
            {
                var sq = NvmeCommand.Create(NvmeOpcode.DeleteIoSq);
                sq.Cdw10 = q.Id;
                Admin(ref sq, null, $"Delete I/O SQ {q.Id}");
                var cq = NvmeCommand.Create(NvmeOpcode.DeleteIoCq);
                cq.Cdw10 = q.Id;
                Admin(ref cq, null, $"Delete I/O CQ {q.Id}");
            }
            catch (NvmeException)
            {
                // gone meanwhile: its queues went with it
            }
        }
        q.Dispose();
        lock (_queuesLock) _qidUsed[q.Id] = false;
    }

    /// <summary>Runs one admin command to completion (polled, bounded by CAP.TO); returns completion dword 0.</summary>
    internal uint Admin(ref NvmeCommand command, DmaBuffer? data, string what)
    {
        if (data != null)
            command.Prp1 = data.Iova;
        lock (_adminLock)
        {
            int cid;
            lock (_admin.Gate)
            {
                cid = _admin.TryTakeCid();
                if (cid < 0)
                    throw new NvmeException($"{Device.Name}: {what}: no admin command slot left (earlier admin commands never completed).");
                if (!_admin.Submit(cid, ref command, isAsync: true, 0))
                    throw new NvmeException($"{Device.Name}: {what}: the controller is gone.", Failure);
            }
            var sw = Stopwatch.StartNew();
            while (true)
            {
                lock (_admin.Gate)
                {
                    _admin.Poll(AdminDepth);
                    if (_admin.TryTakeResult(cid, out var status, out uint dw0))
                        return status.IsSuccess ? dw0 : throw new NvmeException($"{Device.Name}: {what} failed: {status}.", status);
                }
                if (sw.Elapsed > _timeout)
                    throw new NvmeException($"{Device.Name}: {what} did not complete within {_timeout.TotalMilliseconds:F0} ms.");
                Thread.SpinWait(20);
            }
        }
    }
}
