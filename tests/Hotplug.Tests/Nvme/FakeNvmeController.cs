using System.Runtime.InteropServices;
using System.Text;
using Hotplug.Dma;
using Hotplug.Testing;

namespace Hotplug.Tests.Nvme;

/// <summary>
/// Just enough of an NVMe controller behind a simulated device's memfd BAR0 for host tests: CC.EN / CSTS.RDY,
/// CC.SHN / SHST, admin queues (IDENTIFY, Set Features, create / delete I/O queues), READ / WRITE / FLUSH through
/// PRP1 / PRP2 / PRP lists on a RAM disk, completions with the phase bit. Device addresses are translated through
/// the allocator's regions. <see cref="Paused"/> stops it taking commands (a controller that never answers).
/// </summary>
internal sealed unsafe class FakeNvmeController : IDisposable
{
    public const int BlockSize = 512;
    private readonly SimulatedPciDevice _dev;
    private readonly DmaAllocator _dma;
    private readonly Thread _thread;
    private readonly Dictionary<int, (ulong Iova, int Size, int Head, int Cq)> _sqs = [];
    private readonly Dictionary<int, (ulong Iova, int Size, int Tail, bool Phase)> _cqs = [];
    private volatile bool _stop;
    private bool _enabled;

    /// <param name="dev">The simulated function whose BAR0 holds the registers.</param>
    /// <param name="dma">The allocator whose regions translate device addresses.</param>
    /// <param name="blocks">Namespace 1's size in blocks.</param>
    /// <param name="disk">The medium (a controller that comes back after a removal keeps its data); a new one when null.</param>
    public FakeNvmeController(SimulatedPciDevice dev, DmaAllocator dma, int blocks, byte[]? disk = null)
    {
        _dev = dev;
        _dma = dma;
        Disk = disk ?? new byte[blocks * BlockSize];
        ulong cap = 0x3FF | (1UL << 16) | (2UL << 24) | (1UL << 37); // MQES 1024, CQR, TO 1 s, DSTRD 0, CSS NVM
        dev.WriteRegister32(0, 0x00, (uint)cap);
        dev.WriteRegister32(0, 0x04, (uint)(cap >> 32));
        dev.WriteRegister32(0, 0x08, 0x10400);
        _thread = new Thread(Run) { IsBackground = true, Name = "fake-nvme" };
        _thread.Start();
    }

    public byte[] Disk { get; }

    public volatile bool Paused;

    /// <summary>CC.EN=1 is never acknowledged: CSTS.RDY stays 0 (a controller that never becomes ready).</summary>
    public volatile bool NeverReady;

    /// <summary>Set when the fake has seen CC.EN=1 (and, unless <see cref="NeverReady"/>, raised CSTS.RDY).</summary>
    public readonly ManualResetEventSlim EnableSeen = new();

    /// <summary>I/O commands executed.</summary>
    public int IoCommands;

    private uint R(ulong off) => _dev.ReadRegister32(0, off);
    private void W(ulong off, uint v) => _dev.WriteRegister32(0, off, v);
    private ulong R64(ulong off) => R(off) | ((ulong)R(off + 4) << 32);

    private void Run()
    {
        try
        {
            while (!_stop)
            {
                Step();
                Thread.Sleep(0);
            }
        }
        catch (IOException)
        {
            // the BAR memory went (FailBars / Remove): the controller is gone
        }
    }

    private void Step()
    {
        uint cc = R(0x14);
        if ((cc & 1) != 0 && !_enabled && NeverReady)
            EnableSeen.Set();
        else if ((cc & 1) != 0 && !_enabled)
        {
            uint aqa = R(0x24);
            _sqs[0] = (R64(0x28), (int)(aqa & 0xFFF) + 1, 0, 0);
            _cqs[0] = (R64(0x30), (int)((aqa >> 16) & 0xFFF) + 1, 0, true);
            _enabled = true;
            W(0x1C, 1);
            EnableSeen.Set();
        }
        else if ((cc & 1) == 0 && _enabled)
        {
            _sqs.Clear();
            _cqs.Clear();
            _enabled = false;
            for (ulong d = 0x1000; d < 0x1000 + 8 * 17; d += 4)
                W(d, 0); // a reset clears the doorbells
            W(0x1C, 0);
        }
        if (_enabled && ((cc >> 14) & 3) == 1)
            W(0x1C, R(0x1C) | (2u << 2));
        if (!_enabled || Paused)
            return;
        foreach (int qid in _sqs.Keys.ToArray())
        {
            if (!_sqs.TryGetValue(qid, out var sq))
                continue;
            int tail = (int)R(0x1000 + (ulong)(8 * qid));
            while (sq.Head != tail && !Paused)
            {
                var e = (uint*)Ptr(sq.Iova + (ulong)(sq.Head * 64));
                sq.Head = (sq.Head + 1) % sq.Size;
                _sqs[qid] = sq;
                var (status, dw0) = qid == 0 ? Admin(e) : Io(e);
                Post(sq.Cq, qid, sq.Head, (ushort)(e[0] >> 16), status, dw0);
                if (!_sqs.TryGetValue(qid, out sq))
                    break;
            }
        }
    }

    private void Post(int cqid, int sqid, int sqHead, ushort cid, int status, uint dw0)
    {
        var cq = _cqs[cqid];
        var c = (uint*)Ptr(cq.Iova + (ulong)(cq.Tail * 16));
        c[0] = dw0;
        c[2] = (uint)sqHead | ((uint)sqid << 16);
        Volatile.Write(ref c[3], cid | ((cq.Phase ? 1u : 0u) << 16) | ((uint)status << 17));
        if (++cq.Tail == cq.Size)
        {
            cq.Tail = 0;
            cq.Phase = !cq.Phase;
        }
        _cqs[cqid] = cq;
    }

    private (int, uint) Admin(uint* e)
    {
        byte op = (byte)e[0];
        ulong prp1 = *(ulong*)(e + 6);
        uint cdw10 = e[10], cdw11 = e[11];
        switch (op)
        {
            case 0x06 when (cdw10 & 0xFF) == 1:
                var ctrl = new Span<byte>((void*)Ptr(prp1), 4096);
                ctrl.Clear();
                Encoding.ASCII.GetBytes("FAKE0001".PadRight(20)).CopyTo(ctrl[4..]);
                Encoding.ASCII.GetBytes("Fake NVMe".PadRight(40)).CopyTo(ctrl[24..]);
                Encoding.ASCII.GetBytes("1.0".PadRight(8)).CopyTo(ctrl[64..]);
                ctrl[77] = 5; // MDTS: 128 KiB
                MemoryMarshal.Write(ctrl[516..], 1u);
                return (0, 0);
            case 0x06 when (cdw10 & 0xFF) == 0:
                if (e[1] != 1)
                    return (0x0B, 0); // invalid namespace
                var ns = new Span<byte>((void*)Ptr(prp1), 4096);
                ns.Clear();
                MemoryMarshal.Write(ns, (ulong)(Disk.Length / BlockSize));
                ns[128 + 2] = 9;
                return (0, 0);
            case 0x09:
                return (0, 15u | (15u << 16));
            case 0x05:
                _cqs[(int)(cdw10 & 0xFFFF)] = (prp1, (int)(cdw10 >> 16) + 1, 0, true);
                return (0, 0);
            case 0x01:
                _sqs[(int)(cdw10 & 0xFFFF)] = (prp1, (int)(cdw10 >> 16) + 1, 0, (int)(cdw11 >> 16));
                return (0, 0);
            case 0x00:
                _sqs.Remove((int)(cdw10 & 0xFFFF));
                return (0, 0);
            case 0x04:
                _cqs.Remove((int)(cdw10 & 0xFFFF));
                return (0, 0);
            default:
                return (0x01, 0); // invalid opcode
        }
    }

    private (int, uint) Io(uint* e)
    {
        Interlocked.Increment(ref IoCommands);
        byte op = (byte)e[0];
        if (op == 0x00)
            return (0, 0);
        ulong slba = e[10] | ((ulong)e[11] << 32);
        int blocks = (int)(e[12] & 0xFFFF) + 1;
        if (slba + (ulong)blocks > (ulong)(Disk.Length / BlockSize))
            return (0x80, 0); // LBA out of range
        int bytes = blocks * BlockSize, done = 0;
        ulong prp1 = *(ulong*)(e + 6), prp2 = *(ulong*)(e + 8);
        int first = (int)Math.Min((ulong)bytes, 4096 - (prp1 & 4095));
        var pages = new List<(ulong, int)> { (prp1, first) };
        int rest = bytes - first;
        if (rest > 0 && rest <= 4096)
            pages.Add((prp2, rest));
        else if (rest > 0)
            for (int i = 0; rest > 0; i++, rest -= 4096)
                pages.Add((((ulong*)Ptr(prp2))[i], Math.Min(rest, 4096)));
        foreach (var (iova, len) in pages)
        {
            var mem = new Span<byte>((void*)Ptr(iova), len);
            var disk = Disk.AsSpan((int)slba * BlockSize + done, len);
            if (op == 0x01) mem.CopyTo(disk); else disk.CopyTo(mem);
            done += len;
        }
        return (0, 0);
    }

    private nint Ptr(ulong iova)
    {
        foreach (var r in _dma.Regions)
            if (iova >= r.Iova && iova < r.Iova + r.Length)
                return r.VirtualAddress + (nint)(iova - r.Iova);
        throw new InvalidOperationException($"IOVA 0x{iova:x} is not mapped (the device would fault)");
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }
}
