using System.Numerics;
using Microsoft.Extensions.Logging;

namespace Hotplug.Dma;

/// <summary>
/// DMA memory for one device attachment: chunks of hugepages (or locked 4 KiB pages where the device's mapper accepts
/// them), each zeroed, <c>MADV_DONTFORK</c> and mapped for the device once; buffers are carved from them (first fit)
/// with <see cref="Allocate"/>, or in fixed sizes with <see cref="CreatePool"/>. Thread safe.
/// </summary>
/// <remarks>
/// A buffer's device address is its chunk's device address plus its offset in the chunk. <see cref="Regions"/> lists
/// the chunks so that an attachment can map them again at the same device addresses when the device comes back.
/// <see cref="Dispose()"/> refuses (<see cref="InvalidOperationException"/>) while buffers or pools are live, because
/// the device may still be writing to them; <see cref="Dispose(bool)"/> with <c>force</c> frees the memory anyway, and
/// every live buffer then throws <see cref="ObjectDisposedException"/>.
/// </remarks>
public sealed class DmaAllocator : IDisposable, IDmaBufferOwner
{
    private readonly IDmaMapper _mapper;
    private readonly DmaOptions _options;
    private readonly ILogger _logger;
    private readonly List<DmaChunk> _chunks = [];
    private readonly Lock _lock = new();
    private readonly ulong _chunkBytes;
    private int _liveBuffers;
    private int _livePools;
    private bool _warnedSmallPages;
    private volatile bool _disposed;

    internal DmaAllocator(IDmaMapper mapper, DmaOptions options, ILogger logger)
    {
        _mapper = mapper ?? throw new ArgumentNullException(nameof(mapper));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        ArgumentOutOfRangeException.ThrowIfZero(options.ChunkBytes, nameof(options.ChunkBytes));
        _chunkBytes = options.ChunkBytes;
    }

    /// <summary>Every chunk now: where it is in this process and on the device.</summary>
    public IReadOnlyList<DmaRegion> Regions { get { lock (_lock) return [.. _chunks.Select(c => c.Region)]; } }

    /// <summary>Bytes taken from the system (the sum of the chunks' lengths).</summary>
    public ulong TotalBytes { get { lock (_lock) return _chunks.Aggregate(0UL, (sum, c) => sum + c.Length); } }

    /// <summary>Buffers handed out by <see cref="Allocate"/> and not given back (a pool's memory counts: one per slab it holds).</summary>
    public int LiveBuffers => Volatile.Read(ref _liveBuffers);

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>The highest device address the device can reach.</summary>
    internal ulong DmaMask => _options.DmaMask;

    /// <summary>
    /// A zeroed buffer of <paramref name="length"/> bytes whose address is a multiple of <paramref name="alignment"/>
    /// both in memory and on the device. A buffer larger than a chunk gets a chunk of its own (rounded up to 2 MiB).
    /// </summary>
    /// <param name="length">Bytes wanted (rounded up to 64 internally, so no two buffers share a cache line).</param>
    /// <param name="alignment">A power of two; up to 4 KiB always works, up to 2 MiB with hugepages.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is 0 or <paramref name="alignment"/> not a power of two.</exception>
    /// <exception cref="DmaException">No memory the device can use; the message names the fix.</exception>
    /// <exception cref="ObjectDisposedException">The allocator is disposed.</exception>
    public DmaBuffer Allocate(ulong length, ulong alignment = 64)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        if (!BitOperations.IsPow2(alignment))
            throw new ArgumentOutOfRangeException(nameof(alignment), $"Alignment 0x{alignment:x} is not a power of two.");
        ulong reserved = checked((length + 63) & ~63UL);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (reserved <= _chunkBytes)
            {
                foreach (var c in _chunks)
                {
                    if (!c.Dedicated && c.MaxAlignment >= alignment && c.FreeList.TryAllocate(reserved, alignment, out ulong offset))
                        return Hand(c, offset, length);
                }
            }
            if (alignment > DmaOptions.HugePageBytes || alignment > 4096 && _warnedSmallPages)
                throw new DmaException($"alignment 0x{alignment:x} is larger than the pages of this DMA memory can give " +
                    $"({(_warnedSmallPages ? "4 KiB pages: reserve hugepages for up to 2 MiB" : "at most 2 MiB")})");
            var chunk = NewChunk(Math.Max(reserved, _chunkBytes), dedicated: reserved > _chunkBytes);
            if (chunk.MaxAlignment < alignment || !chunk.FreeList.TryAllocate(reserved, alignment, out ulong at))
            {
                if (!chunk.Dedicated)
                    return Fail(alignment, chunk); // the chunk stays for smaller alignments
                _chunks.Remove(chunk);
                chunk.Release(_mapper);
                return Fail(alignment, chunk);
            }
            return Hand(chunk, at, length);
        }
    }

    /// <summary>
    /// A pool of <paramref name="count"/> buffers of <paramref name="bufferSize"/> bytes each (64-byte aligned),
    /// carved now: for descriptor rings and packet or I/O buffers. Dispose the pool before the allocator.
    /// </summary>
    /// <exception cref="DmaException">No memory the device can use; the message names the fix.</exception>
    public DmaPool CreatePool(int bufferSize, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bufferSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var pool = new DmaPool(this, bufferSize, count, _chunkBytes);
        Interlocked.Increment(ref _livePools);
        return pool;
    }

    /// <summary>Frees every chunk; refuses while buffers or pools are live (see <see cref="Dispose(bool)"/>).</summary>
    /// <exception cref="InvalidOperationException">Buffers or pools are live; the message counts them.</exception>
    public void Dispose() => Dispose(force: false);

    /// <summary>
    /// Unmaps every chunk from the device and gives it back to the system. Without <paramref name="force"/> it refuses
    /// while buffers or pools are live (the device may still be writing to them): dispose them first. With
    /// <paramref name="force"/> (the device is gone) it frees them all; live buffers then throw
    /// <see cref="ObjectDisposedException"/>, and pointers taken from them must not be used. Idempotent.
    /// </summary>
    /// <exception cref="InvalidOperationException">Not forced and buffers or pools are live.</exception>
    public void Dispose(bool force)
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            int buffers = _liveBuffers, pools = Volatile.Read(ref _livePools);
            if (!force && (buffers > 0 || pools > 0))
                throw new InvalidOperationException($"The DMA allocator of {_mapper.Describe} still has {buffers} live allocation(s) " +
                    $"(pool memory included) and {pools} live pool(s): dispose them first, or Dispose(force: true) once the device cannot touch them.");
            _disposed = true;
            List<Exception>? errors = null;
            foreach (var c in _chunks)
            {
                try { c.Release(_mapper); }
                catch (Exception e) { (errors ??= []).Add(e); }
            }
            _chunks.Clear();
            if (errors is not null)
                throw new AggregateException("Unmapping DMA memory failed.", errors);
        }
    }

    /// <summary>A pool gives up: the allocator may be disposed without force once its buffers are back too.</summary>
    internal void PoolDisposed() => Interlocked.Decrement(ref _livePools);

    void IDmaBufferOwner.Release(DmaBuffer buffer)
    {
        lock (_lock)
        {
            if (_disposed)
                return; // forced: the chunk is gone already
            var chunk = buffer.Chunk;
            chunk.FreeList.Free(buffer.ChunkOffset, (buffer.Length + 63) & ~63UL);
            _liveBuffers--;
            if (chunk.Dedicated && chunk.FreeList.IsEmpty)
            {
                _chunks.Remove(chunk);
                chunk.Release(_mapper);
            }
        }
    }

    private DmaBuffer Hand(DmaChunk chunk, ulong offset, ulong length)
    {
        _liveBuffers++;
        var buffer = new DmaBuffer(this, this, chunk, offset, length);
        buffer.Clear(); // a new chunk is zeroed already; space given back and handed out again is not
        return buffer;
    }

    private DmaChunk NewChunk(ulong length, bool dedicated)
    {
        var chunk = DmaChunk.Create(length, dedicated, _options, _mapper, out string? hugeFailure);
        if (hugeFailure is not null && !_warnedSmallPages)
        {
            _warnedSmallPages = true;
            _logger.SmallPageFallback(hugeFailure, _mapper.Describe);
        }
        ulong end = chunk.Iova + (chunk.Length - 1);
        if (end > _options.DmaMask)
        {
            chunk.Release(_mapper);
            throw new DmaException($"{_mapper.Describe} put DMA memory at device addresses 0x{chunk.Iova:x}-0x{end:x}, above the DMA mask " +
                $"0x{_options.DmaMask:x}: the device cannot reach it (physical addresses: reserve hugepages at boot, they land low; vfio: it allocates below the mask)");
        }
        _logger.ChunkMapped(chunk.Length, chunk.PageSize, chunk.Address, chunk.Iova);
        _chunks.Add(chunk);
        return chunk;
    }

    private static DmaBuffer Fail(ulong alignment, DmaChunk chunk) =>
        throw new DmaException($"alignment 0x{alignment:x} is larger than DMA memory of {chunk.PageSize}-byte pages can give " +
            $"(at most 0x{chunk.MaxAlignment:x} here): use a smaller alignment or reserve hugepages");
}
