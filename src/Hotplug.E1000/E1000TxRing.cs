using Hotplug.Dma;
using Hotplug.Pci;
using static Hotplug.E1000.E1000Registers;

namespace Hotplug.E1000;

/// <summary>
/// The transmit ring: legacy descriptors in DMA memory. A burst reclaims the descriptors the NIC has written back
/// (DD, requested with RS on every descriptor) and frees their buffers, then fills free descriptors and moves TDT.
/// Completion is read from descriptor memory only, never from TDH: a removed NIC's registers are never trusted, its
/// ring just stops draining and bursts take nothing. Used under the port's transmit lock.
/// </summary>
internal sealed unsafe class E1000TxRing : IDisposable
{
    private readonly MappedBar _bar;
    private readonly DmaBuffer _ring;
    private readonly byte* _base;
    private readonly Packet[] _slots;
    private readonly Packet[] _done;
    private int _tail, _clean, _inFlight;

    public E1000TxRing(MappedBar bar, DmaAllocator dma, int size)
    {
        _bar = bar;
        Size = size;
        _slots = new Packet[size];
        _done = new Packet[size];
        _ring = dma.Allocate((ulong)(size * DescriptorSize), RingAlignment);
        _base = (byte*)_ring.Pointer;
        _ring.AsSpan().Clear();
    }

    public int Size { get; }

    public ulong Iova => _ring.Iova;

    /// <summary>Frames handed to the NIC and not yet written back.</summary>
    public int InFlight => _inFlight;

    public void Program()
    {
        _bar.Write32(Tdbal, (uint)Iova);
        _bar.Write32(Tdbah, (uint)(Iova >> 32));
        _bar.Write32(Tdlen, (uint)(Size * DescriptorSize));
        _bar.Write32(Tdh, 0);
        _bar.Write32(Tdt, 0);
    }

    /// <summary>
    /// Frees what the NIC has sent, then posts as many of <paramref name="packets"/> as fit (one slot always stays
    /// empty, so TDT never catches TDH). Every packet is checked before any is posted.
    /// </summary>
    public int Transmit(ReadOnlySpan<Packet> packets, ref TxCounters stats)
    {
        Reclaim();
        int n = Math.Min(packets.Length, Size - 1 - _inFlight);
        for (int i = 0; i < n; i++)
            Check(packets[i], i);
        int tail = _tail;
        long bytes = 0;
        for (int i = 0; i < n; i++)
        {
            var p = packets[i];
            int length = p.Length;
            byte* d = _base + tail * DescriptorSize;
            *(ulong*)d = p.Iova;
            *(ulong*)(d + 8) = (uint)length | ((ulong)(TxCmdEop | TxCmdIfcs | TxCmdRs) << 24); // cso 0, status 0, css 0, special 0
            _slots[tail] = p;
            bytes += length;
            if (++tail == Size)
                tail = 0;
        }
        if (n > 0)
        {
            _tail = tail;
            _inFlight += n;
            Doorbell(Tdt, (uint)tail); // the descriptors are written before the NIC hears of them (a release store)
        }
        stats.Packets += n;
        stats.Bytes += bytes;
        stats.RingFull += packets.Length - n;
        return n;
    }

    /// <summary>True once a doorbell write found the BAR disposed (the device was detached under a burst).</summary>
    public bool Detached { get; private set; }

    /// <summary>A tail write that never throws: the packets posted are the ring's either way (freed once, at Dispose at the latest).</summary>
    private void Doorbell(ulong register, uint value)
    {
        try
        {
            _bar.Write32(register, value);
        }
        catch (ObjectDisposedException)
        {
            Detached = true;
        }
    }

    private static void Check(Packet p, int i)
    {
        if (p.IsNull)
            throw new ArgumentException($"Packet {i} of the burst is a null handle.", "packets");
        int length = p.Length;
        if (length < 1 || length > 16288) // the legacy descriptor's 16-bit length, within the NIC's 16 KiB frame
            throw new ArgumentException($"Packet {i} of the burst is {length} bytes; a frame is 1..16288 bytes.", "packets");
    }

    /// <summary>Frees every buffer the NIC has written back. True if there were any.</summary>
    public bool Reclaim()
    {
        int k = 0, at = _clean;
        while (k < _inFlight)
        {
            byte* d = _base + at * DescriptorSize;
            if ((Volatile.Read(ref d[TxStatus]) & TxStatusDd) == 0)
                break;
            _done[k++] = _slots[at];
            _slots[at] = default;
            if (++at == Size)
                at = 0;
        }
        if (k == 0)
            return false;
        _clean = at;
        _inFlight -= k;
        PacketPool.FreeRuns(_done.AsSpan(0, k));
        Array.Clear(_done, 0, k);
        return true;
    }

    /// <summary>Frees the buffers still in flight and gives the ring's memory back. The NIC must be stopped (or gone).</summary>
    public void Dispose()
    {
        int k = 0;
        for (int i = 0, at = _clean; i < _inFlight; i++)
        {
            if (!_slots[at].Pool.IsDisposed)
                _done[k++] = _slots[at];
            _slots[at] = default;
            if (++at == Size)
                at = 0;
        }
        _inFlight = 0;
        PacketPool.FreeRuns(_done.AsSpan(0, k));
        Array.Clear(_done);
        _ring.Dispose();
    }
}

/// <summary>What the transmit path counts (under the port's transmit lock).</summary>
internal struct TxCounters
{
    public long Packets, Bytes, RingFull;
}
