namespace Hotplug.Dma;

/// <summary>
/// Fixed-size DMA buffers carved up front from one or more chunks, for descriptor rings and packet or I/O buffers.
/// <see cref="Rent"/> and <see cref="Return"/> allocate nothing on the managed heap: the same <see cref="DmaBuffer"/>
/// objects come back around. Thread safe.
/// </summary>
/// <remarks>
/// Disposing a rented buffer returns it (once); a reference kept after that names a buffer someone else may rent next.
/// Dispose the pool before its allocator.
/// </remarks>
public sealed class DmaPool : IDisposable, IDmaBufferOwner
{
    private readonly DmaAllocator _allocator;
    private readonly DmaBuffer[] _stack;
    private readonly DmaBuffer[] _all;
    private readonly List<DmaBuffer> _slabs = [];
    private readonly Lock _lock = new();
    private int _top;
    private bool _disposed;

    internal DmaPool(DmaAllocator allocator, int bufferSize, int count, ulong chunkBytes)
    {
        _allocator = allocator;
        BufferSize = bufferSize;
        Count = count;
        ulong stride = ((ulong)bufferSize + 63) & ~63UL;
        ulong alignment = Math.Min(4096UL, stride & (~stride + 1)); // a 4 KiB buffer is page aligned
        int perSlab = (int)Math.Clamp(chunkBytes / stride, 1, int.MaxValue);
        _all = new DmaBuffer[count];
        _stack = new DmaBuffer[count];
        try
        {
            for (int made = 0; made < count;)
            {
                int n = Math.Min(perSlab, count - made);
                var slab = allocator.Allocate((ulong)n * stride, alignment);
                _slabs.Add(slab);
                for (int i = 0; i < n; i++, made++)
                {
                    var b = new DmaBuffer(allocator, this, slab.Chunk, slab.ChunkOffset + (ulong)i * stride, (ulong)bufferSize);
                    b.TryMarkReleased();
                    _all[made] = b;
                }
            }
        }
        catch
        {
            foreach (var slab in _slabs)
                slab.Dispose();
            throw;
        }
        // Rent hands out the lowest addresses first.
        for (int i = 0; i < count; i++)
            _stack[i] = _all[count - 1 - i];
        _top = count;
    }

    /// <summary>The size of each buffer in bytes.</summary>
    public int BufferSize { get; }

    /// <summary>How many buffers the pool holds.</summary>
    public int Count { get; }

    /// <summary>Buffers available to rent now.</summary>
    public int Available { get { lock (_lock) return _top; } }

    /// <summary>A buffer, or an exception when all are rented. Its contents are what the last user left.</summary>
    /// <exception cref="DmaException">Every buffer is rented; the message gives the count.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public DmaBuffer Rent() => TryRent(out var b) ? b : throw Exhausted();

    /// <summary>A buffer if one is free.</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public bool TryRent([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DmaBuffer? buffer)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_top == 0)
            {
                buffer = null;
                return false;
            }
            buffer = _stack[--_top];
            _stack[_top] = null!;
        }
        buffer.Revive();
        return true;
    }

    /// <summary>Gives a rented buffer back (the same as disposing it, but a second return throws).</summary>
    /// <exception cref="ArgumentException">It is not from this pool.</exception>
    /// <exception cref="InvalidOperationException">It was returned already.</exception>
    public void Return(DmaBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (!ReferenceEquals(buffer.Owner, this))
            throw new ArgumentException("The DMA buffer is not from this pool.", nameof(buffer));
        if (!buffer.TryMarkReleased())
            throw new InvalidOperationException("The DMA buffer was returned to its pool already.");
        Push(buffer);
    }

    /// <summary>Gives the pool's memory back to its allocator; refuses while buffers are rented.</summary>
    /// <exception cref="InvalidOperationException">Buffers are rented; the message counts them.</exception>
    public void Dispose() => Dispose(force: false);

    /// <summary>
    /// Gives the pool's memory back to its allocator. Without <paramref name="force"/> it refuses while buffers are
    /// rented (the device may still use them); with it, rented buffers are marked disposed. Idempotent.
    /// </summary>
    /// <exception cref="InvalidOperationException">Not forced and buffers are rented.</exception>
    public void Dispose(bool force)
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            if (!force && _top != Count)
                throw new InvalidOperationException($"{Count - _top} of the DMA pool's {Count} buffers are rented: return them first, or Dispose(force: true).");
            _disposed = true;
        }
        foreach (var b in _all)
            b.TryMarkReleased();
        if (!_allocator.IsDisposed)
        {
            foreach (var slab in _slabs)
                slab.Dispose();
        }
        _allocator.PoolDisposed();
    }

    void IDmaBufferOwner.Release(DmaBuffer buffer) => Push(buffer);

    private void Push(DmaBuffer buffer)
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _stack[_top++] = buffer;
        }
    }

    private DmaException Exhausted() =>
        new($"all {Count} buffers of {BufferSize} bytes of the DMA pool are rented: return some, or create a larger pool");
}
