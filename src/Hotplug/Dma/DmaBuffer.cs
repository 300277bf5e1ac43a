using System.Runtime.CompilerServices;

namespace Hotplug.Dma;

/// <summary>
/// Memory a device can read and write: <see cref="Length"/> bytes at <see cref="Pointer"/> in this process and at
/// <see cref="Iova"/> on the device, contiguous on both sides. It comes from a <see cref="DmaAllocator"/> or a
/// <see cref="DmaPool"/>; <see cref="Dispose"/> gives it back. Nothing here allocates on the managed heap.
/// </summary>
/// <remarks>
/// Tell the device <see cref="Iova"/> (or <see cref="IovaOf"/>), never <see cref="Pointer"/>. After
/// <see cref="Dispose"/>, or after its allocator has been disposed, <see cref="Span"/> and <see cref="AsSpan"/> throw
/// <see cref="ObjectDisposedException"/>; a pointer or span taken before must not be used any more (the memory goes
/// back to the allocator, or to the system).
/// </remarks>
public sealed unsafe class DmaBuffer : IDisposable
{
    private readonly DmaAllocator _allocator;
    private readonly IDmaBufferOwner _owner;
    private int _released; // 0 while the holder owns it; a pool sets it back to 0 on each rent

    internal DmaBuffer(DmaAllocator allocator, IDmaBufferOwner owner, DmaChunk chunk, ulong offset, ulong length)
    {
        _allocator = allocator;
        _owner = owner;
        Chunk = chunk;
        ChunkOffset = offset;
        Length = length;
        Pointer = chunk.Address + (nint)offset;
        Iova = chunk.Iova + offset;
    }

    /// <summary>Start of the buffer in this process.</summary>
    public nint Pointer { get; }

    /// <summary>Length in bytes.</summary>
    public ulong Length { get; }

    /// <summary>The device address of the first byte.</summary>
    public ulong Iova { get; }

    /// <summary>The buffer's bytes (at most 2 GiB of them).</summary>
    /// <exception cref="ObjectDisposedException">The buffer or its allocator is disposed.</exception>
    public Span<byte> Span => AsSpan();

    /// <summary>The allocator this buffer comes from (a driver checks that its device can reach it).</summary>
    public DmaAllocator Allocator => _allocator;

    /// <summary>True once given back (a pool buffer becomes live again when rented again).</summary>
    public bool IsDisposed => Volatile.Read(ref _released) != 0 || _allocator.IsDisposed;

    internal DmaChunk Chunk { get; }

    internal IDmaBufferOwner Owner => _owner;

    internal ulong ChunkOffset { get; }

    /// <summary>The buffer's bytes (at most 2 GiB of them).</summary>
    /// <exception cref="ObjectDisposedException">The buffer or its allocator is disposed.</exception>
    public Span<byte> AsSpan()
    {
        if (IsDisposed)
            ThrowDisposed();
        return new((void*)Pointer, checked((int)Length));
    }

    /// <summary>The device address of the byte at <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is not inside the buffer.</exception>
    /// <exception cref="ObjectDisposedException">The buffer or its allocator is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong IovaOf(ulong offset)
    {
        if (offset >= Length)
            ThrowOutside(offset);
        if (IsDisposed)
            ThrowDisposed();
        return Iova + offset;
    }

    /// <summary>Gives the buffer back to its allocator or pool. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
            _owner.Release(this);
    }

    /// <summary>Zeroes the whole buffer (any length).</summary>
    internal void Clear() => System.Runtime.InteropServices.NativeMemory.Clear((void*)Pointer, (nuint)Length);

    /// <summary>A pool hands this buffer out again.</summary>
    internal void Revive() => Volatile.Write(ref _released, 0);

    /// <summary>Marks the buffer given back; false if it was already.</summary>
    internal bool TryMarkReleased() => Interlocked.Exchange(ref _released, 1) == 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowOutside(ulong offset) =>
        throw new ArgumentOutOfRangeException(nameof(offset), $"Offset 0x{offset:x} is outside the DMA buffer (0x{Length:x} bytes).");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowDisposed() =>
        throw new ObjectDisposedException(nameof(DmaBuffer), _allocator.IsDisposed
            ? "The DMA buffer's allocator is disposed: its memory went back to the system."
            : "The DMA buffer was given back to its allocator or pool.");
}
