using Hotplug.Dma;
using Hotplug.Pci;
using static Hotplug.E1000.E1000Registers;

namespace Hotplug.E1000;

/// <summary>
/// The receive ring: legacy descriptors in DMA memory, each holding a pool buffer. The NIC owns the descriptors from
/// RDH up to (not including) RDT; the driver takes a descriptor back when the NIC has set its DD bit, hands the
/// buffer to the app, puts a fresh buffer in and moves RDT over it. Only descriptor memory is read on the data path:
/// a register that reads all-ones (a removed NIC) is never taken for a packet. Used under the port's receive lock.
/// </summary>
internal sealed unsafe class E1000RxRing : IDisposable
{
    private const int SpareCapacity = 64;
    private readonly MappedBar _bar;
    private readonly DmaBuffer _ring;
    private readonly byte* _base;
    private readonly PacketPool _pool;
    private readonly Packet[] _slots;
    private readonly Packet[] _spare = new Packet[SpareCapacity];
    private int _spareCount;
    private int _next;
    private bool _discarding; // inside a frame that spans buffers: drop up to its EOP

    public E1000RxRing(MappedBar bar, DmaAllocator dma, PacketPool pool, int size)
    {
        _bar = bar;
        _pool = pool;
        Size = size;
        _slots = new Packet[size];
        _ring = dma.Allocate((ulong)(size * DescriptorSize), RingAlignment);
        _base = (byte*)_ring.Pointer;
        int got = pool.AllocBulk(_slots);
        if (got < size)
        {
            pool.FreeBulk(_slots.AsSpan(0, got));
            Array.Clear(_slots);
            _ring.Dispose();
            throw new ArgumentException($"The packet pool has {got} free buffers; the receive ring needs {size}.", nameof(pool));
        }
        _ring.AsSpan().Clear();
        for (int i = 0; i < size; i++)
            *(ulong*)(_base + i * DescriptorSize) = _slots[i].Iova;
    }

    public int Size { get; }

    /// <summary>True once a doorbell write found the BAR disposed (the device was detached under a burst).</summary>
    public bool Detached { get; private set; }

    public ulong Iova => _ring.Iova;

    /// <summary>Buffers taken from the pool ahead for the next refills (one pool lock per refill, not per frame).</summary>
    public int Spares => _spareCount;

    /// <summary>Tells the NIC where the ring is; the NIC owns nothing yet (RDH = RDT = 0).</summary>
    public void Program()
    {
        _bar.Write32(Rdbal, (uint)Iova);
        _bar.Write32(Rdbah, (uint)(Iova >> 32));
        _bar.Write32(Rdlen, (uint)(Size * DescriptorSize));
        _bar.Write32(Rdh, 0);
        _bar.Write32(Rdt, 0);
        _bar.Write32(Rdtr, 0); // no receive delay
    }

    /// <summary>Hands every descriptor but one to the NIC (RDT = size - 1: RDT never catches RDH).</summary>
    public void Arm() => _bar.Write32(Rdt, (uint)(Size - 1));

    /// <summary>Takes up to <paramref name="into"/>.Length received frames; counts into <paramref name="stats"/>.</summary>
    public int Receive(Span<Packet> into, ref RxCounters stats)
    {
        int n = 0, idx = _next, last = -1;
        while (n < into.Length)
        {
            byte* d = _base + idx * DescriptorSize;
            byte status = Volatile.Read(ref d[RxStatus]);
            if ((status & RxStatusDd) == 0)
                break;
            int length = *(ushort*)(d + RxLength);
            bool good = !_discarding && (status & RxStatusEop) != 0 && d[RxErrors] == 0 && length > 0 && length <= _pool.BufferSize;
            _discarding = (status & RxStatusEop) == 0; // the rest of a frame too long for one buffer is dropped too
            if (good)
            {
                if (_spareCount == 0 && !Refill(into.Length - n))
                {
                    stats.NoBuffer++;
                    break; // leave the descriptor to the next burst; the NIC drops when the ring runs full
                }
                var packet = _slots[idx];
                _pool.SetLength(packet.Index, length);
                into[n++] = packet;
                stats.Bytes += length;
                _slots[idx] = _spare[--_spareCount];
                _spare[_spareCount] = default;
            }
            else
            {
                stats.Errors++; // the buffer stays in the descriptor
            }
            *(ulong*)d = _slots[idx].Iova;
            *(ulong*)(d + 8) = 0; // length, checksum, status, errors, special
            last = idx;
            if (++idx == Size)
                idx = 0;
        }
        if (last >= 0)
        {
            _next = idx;
            try
            {
                _bar.Write32(Rdt, (uint)last); // the descriptors are written before the NIC hears of them (a release store)
            }
            catch (ObjectDisposedException)
            {
                Detached = true; // the device was detached under the burst: the frames taken are the caller's all the same
            }
        }
        stats.Packets += n;
        return n;
    }

    private bool Refill(int wanted)
    {
        _spareCount = _pool.AllocBulk(_spare.AsSpan(0, Math.Clamp(wanted, 1, SpareCapacity)));
        return _spareCount > 0;
    }

    /// <summary>Gives every buffer back to the pool and the ring's memory to the allocator. The NIC must be stopped (or gone).</summary>
    public void Dispose()
    {
        if (_pool.IsDisposed)
        {
            Array.Clear(_slots);
            Array.Clear(_spare);
        }
        else
        {
            _pool.FreeBulk(_slots);
            _pool.FreeBulk(_spare.AsSpan(0, _spareCount));
        }
        _spareCount = 0;
        _ring.Dispose();
    }
}

/// <summary>What the receive path counts (under the port's receive lock).</summary>
internal struct RxCounters
{
    public long Packets, Bytes, Errors, NoBuffer;
}
