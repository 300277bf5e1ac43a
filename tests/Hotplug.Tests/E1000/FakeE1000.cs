using System.Collections.Concurrent;
using Hotplug.Dma;
using Hotplug.Testing;

namespace Hotplug.Tests.E1000;

/// <summary>
/// Just enough of an 82540EM behind a simulated device's memfd BAR0 for host tests: CTRL.RST, STATUS (link), EERD,
/// RAL0/RAH0, a transmit ring it drains into <see cref="Sent"/> (DD written back where RS asks), and a receive ring it
/// fills from <see cref="Inject"/>ed frames (split over several buffers when longer than 2048 bytes, filtered by
/// RCTL.UPE / BAM and RAL0/RAH0). Device addresses are translated through the allocator's regions. Frames wait in its
/// queue while the ring has no free descriptor (as QEMU queues them), so counts are exact.
/// </summary>
internal sealed unsafe class FakeE1000 : IDisposable
{
    public static readonly byte[] DefaultMac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    private readonly SimulatedPciDevice _dev;
    private readonly DmaAllocator _dma;
    private readonly Thread _thread;
    private readonly ConcurrentQueue<byte[]> _incoming = new();
    private readonly byte[] _mac;
    private readonly bool _macInEepromOnly;
    private volatile bool _stop;
    private volatile bool _linkUp = true;
    

    public FakeE1000(SimulatedPciDevice dev, DmaAllocator dma, byte[]? mac = null, bool macInEepromOnly = false)
    {
        _dev = dev;
        _dma = dma;
        _mac = mac ?? DefaultMac;
        _macInEepromOnly = macInEepromOnly;
        PowerOn();
        _thread = new Thread(Run) { IsBackground = true, Name = "fake-e1000" };
        _thread.Start();
    }

    public ConcurrentQueue<byte[]> Sent { get; } = new();

    public int Resets;

    public int EepromReads;

    /// <summary>The next received frame gets a descriptor error (RXE).</summary>
    public volatile bool ErrorNext;

    public volatile bool Paused;

    public bool LinkUp
    {
        get => _linkUp;
        set { _linkUp = value; W(0x08, Status()); }
    }

    public int Pending => _incoming.Count;

    public void Inject(byte[] frame) => _incoming.Enqueue(frame);

    public uint R(ulong off) => _dev.ReadRegister32(0, off);

    public void W(ulong off, uint v) => _dev.WriteRegister32(0, off, v);

    private uint Status() => _linkUp ? 0x80080783u : 0x80080781u; // FD, LU (or not), 1000 Mb/s, as QEMU's reset value

    private void PowerOn()
    {
        foreach (ulong r in new ulong[] { 0x0100, 0x0400, 0x2800, 0x2804, 0x2808, 0x2810, 0x2818, 0x3800, 0x3804, 0x3808, 0x3810, 0x3818 })
            W(r, 0);
                W(0x08, Status());
        if (_macInEepromOnly)
        {
            W(0x5400, 0);
            W(0x5404, 0);
        }
        else
        {
            W(0x5400, (uint)(_mac[0] | _mac[1] << 8 | _mac[2] << 16 | _mac[3] << 24));
            W(0x5404, (uint)(_mac[4] | _mac[5] << 8) | 0x80000000u);
        }
    }

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
            // the BAR memory went (FailBars / Remove): the NIC is gone
        }
    }

    private void Step()
    {
        uint ctrl = R(0x00);
        if ((ctrl & (1u << 26)) != 0)
        {
            PowerOn();
            Interlocked.Increment(ref Resets);
            W(0x00, ctrl & ~(1u << 26));
        }
        uint eerd = R(0x14);
        if ((eerd & 1) != 0 && (eerd & 0x10) == 0)
        {
            int word = (int)((eerd >> 8) & 0xFF);
            uint data = word < 3 ? (uint)(_mac[2 * word] | _mac[2 * word + 1] << 8) : 0;
            Interlocked.Increment(ref EepromReads);
            W(0x14, (data << 16) | ((uint)word << 8) | 0x10);
        }
        if (Paused)
            return;
        Transmit();
        Receive();
    }

    private void Transmit()
    {
        if ((R(0x400) & 2) == 0)
            return;
        int size = (int)(R(0x3808) / 16);
        ulong ring = R(0x3800) | ((ulong)R(0x3804) << 32);
        int tdt = (int)R(0x3818);
        int tdh = (int)R(0x3810);
        while (size > 0 && tdh != tdt)
        {
            byte* d = (byte*)Ptr(ring + (ulong)(tdh * 16));
            ulong addr = *(ulong*)d;
            int len = *(ushort*)(d + 8);
            byte cmd = d[11];
            Sent.Enqueue(new Span<byte>((void*)Ptr(addr), len).ToArray());
            if ((cmd & 8) != 0)
                Volatile.Write(ref d[12], (byte)(d[12] | 1));
            tdh = (tdh + 1) % size;
            W(0x3810, (uint)tdh);
        }
    }

    private void Receive()
    {
        uint rctl = R(0x100);
        if ((rctl & 2) == 0 || !_linkUp || !_incoming.TryPeek(out var frame))
            return;
        if (!Accept(frame, rctl))
        {
            _incoming.TryDequeue(out _);
            return;
        }
        int size = (int)(R(0x2808) / 16);
        ulong ring = R(0x2800) | ((ulong)R(0x2804) << 32);
        int rdt = (int)R(0x2818);
        int rdh = (int)R(0x2810);
        int needed = Math.Max(1, (frame.Length + 2047) / 2048);
        int free = (rdt - rdh + size) % size;
        if (size == 0 || free < needed)
            return; // wait for descriptors (QEMU queues the frame)
        _incoming.TryDequeue(out _);
        bool error = ErrorNext;
        ErrorNext = false;
        for (int off = 0, part = 0; part < needed; part++, off += 2048)
        {
            byte* d = (byte*)Ptr(ring + (ulong)(rdh * 16));
            int len = Math.Min(2048, frame.Length - off);
            frame.AsSpan(off, len).CopyTo(new Span<byte>((void*)Ptr(*(ulong*)d), len));
            *(ushort*)(d + 8) = (ushort)len;
            d[13] = (byte)(error ? 0x80 : 0);
            Volatile.Write(ref d[12], (byte)(1 | (part == needed - 1 ? 2 : 0)));
            rdh = (rdh + 1) % size;
            W(0x2810, (uint)rdh);
        }
    }

    private bool Accept(byte[] frame, uint rctl)
    {
        var dst = frame.AsSpan(0, 6);
        if (dst.SequenceEqual(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF }))
            return (rctl & (1u << 15)) != 0;
        if ((dst[0] & 1) != 0)
            return (rctl & (1u << 4)) != 0;
        uint ral = R(0x5400), rah = R(0x5404);
        byte[] own = [(byte)ral, (byte)(ral >> 8), (byte)(ral >> 16), (byte)(ral >> 24), (byte)rah, (byte)(rah >> 8)];
        return (rctl & (1u << 3)) != 0 || ((rah & 0x80000000u) != 0 && dst.SequenceEqual(own));
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
