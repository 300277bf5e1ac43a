using Hotplug.Dma;

namespace Hotplug.E1000;

/// <summary>
/// Fixed-size packet buffers in DMA memory (DPDK's mempool of mbufs): carved once from a <see cref="DmaAllocator"/>,
/// then handed out and taken back as <see cref="Packet"/> handles without allocating. Thread safe: one lock per
/// call, and the bulk calls (<see cref="AllocBulk"/>, <see cref="FreeBulk"/>) take it once for many packets.
/// </summary>
public sealed class PacketPool : IDisposable
{
    private readonly DmaPool _dma;
    private readonly DmaBuffer[] _buffers;
    private readonly int[] _lengths;
    private readonly bool[] _rented;
    private readonly int[] _free;
    private readonly Lock _lock = new();
    private int _top;
    private bool _disposed;

    private PacketPool(DmaAllocator allocator, int count, int bufferSize)
    {
        Allocator = allocator;
        BufferSize = bufferSize;
        Count = count;
        _dma = allocator.CreatePool(bufferSize, count);
        _buffers = new DmaBuffer[count];
        for (int i = 0; i < count; i++)
            _buffers[i] = _dma.Rent();
        _lengths = new int[count];
        _rented = new bool[count];
        _free = new int[count];
        for (int i = 0; i < count; i++)
            _free[i] = count - 1 - i; // the lowest addresses go first
        _top = count;
    }

    /// <summary>
    /// A pool of <paramref name="count"/> buffers of <paramref name="bufferSize"/> bytes (default 2048, what an
    /// 82540EM receive descriptor fills) in <paramref name="allocator"/>'s memory.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive, or <paramref name="bufferSize"/> is below 64 or above 64 KiB.</exception>
    /// <exception cref="DmaException">No DMA memory.</exception>
    public static PacketPool Create(DmaAllocator allocator, int count, int bufferSize = 2048)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 64);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bufferSize, 65536);
        return new PacketPool(allocator, count, bufferSize);
    }

    /// <summary>Where the buffers live (a NIC that uses them must reach this memory).</summary>
    public DmaAllocator Allocator { get; }

    /// <summary>Bytes per buffer.</summary>
    public int BufferSize { get; }

    /// <summary>Buffers in the pool.</summary>
    public int Count { get; }

    /// <summary>Buffers free now.</summary>
    public int Available { get { lock (_lock) return _top; } }

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed);

    /// <summary>A free buffer (length 0), if there is one.</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public bool TryAlloc(out Packet packet)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_top == 0)
            {
                packet = default;
                return false;
            }
            packet = Take();
            return true;
        }
    }

    /// <summary>Fills <paramref name="packets"/> with free buffers (length 0) as far as there are some; returns how many.</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public int AllocBulk(Span<Packet> packets)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int n = Math.Min(packets.Length, _top);
            for (int i = 0; i < n; i++)
                packets[i] = Take();
            return n;
        }
    }

    /// <summary>Gives a buffer back.</summary>
    /// <exception cref="ArgumentException">It belongs to another pool (or is null).</exception>
    /// <exception cref="InvalidOperationException">It is free already.</exception>
    public void Free(Packet packet)
    {
        lock (_lock)
            Put(packet);
    }

    /// <summary>Gives buffers back (one lock for all).</summary>
    /// <exception cref="ArgumentException">One belongs to another pool (those before it are freed).</exception>
    /// <exception cref="InvalidOperationException">One is free already (those before it are freed).</exception>
    public void FreeBulk(ReadOnlySpan<Packet> packets)
    {
        lock (_lock)
            foreach (var p in packets)
                Put(p);
    }

    /// <summary>True if <paramref name="packet"/> is one of this pool's buffers, rented now.</summary>
    public bool Owns(Packet packet)
    {
        if (packet.IsNull || !ReferenceEquals(packet.Pool, this))
            return false;
        lock (_lock)
            return _rented[packet.Index];
    }

    /// <summary>
    /// Gives the DMA memory back. Refuses while buffers are out (a NIC may still write to them) unless
    /// <paramref name="force"/>: then every handle's <see cref="Packet.Data"/> throws <see cref="ObjectDisposedException"/>.
    /// Idempotent.
    /// </summary>
    /// <exception cref="InvalidOperationException">Buffers are out and <paramref name="force"/> is false.</exception>
    public void Dispose(bool force)
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            if (!force && _top != Count)
                throw new InvalidOperationException($"{Count - _top} of the packet pool's {Count} buffers are out: free them first, or Dispose(force: true).");
            _disposed = true;
        }
        _dma.Dispose(force: true);
    }

    /// <summary>Gives the DMA memory back; refuses while buffers are out (see <see cref="Dispose(bool)"/>).</summary>
    public void Dispose() => Dispose(force: false);

    internal int LengthOf(int index) => Volatile.Read(ref _lengths[index]);

    internal void SetLength(int index, int length)
    {
        if ((uint)length > (uint)BufferSize)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"A packet buffer holds 0..{BufferSize} bytes.");
        Volatile.Write(ref _lengths[index], length);
    }

    internal Span<byte> BufferOf(int index) => _buffers[index].AsSpan();

    internal ulong IovaOf(int index) => _buffers[index].Iova;

    /// <summary>Frees packets that may come from several pools: one lock per run of the same pool.</summary>
    internal static void FreeRuns(ReadOnlySpan<Packet> packets)
    {
        while (!packets.IsEmpty)
        {
            var pool = packets[0].Pool;
            int run = 1;
            while (run < packets.Length && ReferenceEquals(packets[run].Pool, pool))
                run++;
            pool.FreeBulk(packets[..run]);
            packets = packets[run..];
        }
    }

    private Packet Take()
    {
        int index = _free[--_top];
        _rented[index] = true;
        _lengths[index] = 0;
        return new Packet(this, index);
    }

    private void Put(Packet packet)
    {
        if (packet.IsNull || !ReferenceEquals(packet.Pool, this))
            throw new ArgumentException("The packet is not from this pool.", nameof(packet));
        if (_disposed)
            return; // forced away: nothing to keep
        if (!_rented[packet.Index])
            throw new InvalidOperationException($"Packet buffer {packet.Index} is free already (freed twice?).");
        _rented[packet.Index] = false;
        _free[_top++] = packet.Index;
    }
}
