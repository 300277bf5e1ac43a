namespace Hotplug.Dma;

/// <summary>How a <see cref="DmaAllocator"/> gets its memory.</summary>
public sealed class DmaOptions
{
    /// <summary>The size of one 2 MiB hugepage.</summary>
    public const ulong HugePageBytes = 2UL << 20;

    /// <summary>
    /// Memory is taken from the system in chunks of this many bytes (default 2 MiB, one hugepage), rounded up to
    /// the page size. A buffer larger than a chunk gets a chunk of its own.
    /// </summary>
    public ulong ChunkBytes { get; init; } = HugePageBytes;

    /// <summary>
    /// Fall back to ordinary 4 KiB pages (locked with <c>mlock</c>) when no hugepages are reserved (default true).
    /// Used only if the device's mapper accepts them (vfio does; uio physical addresses do not).
    /// </summary>
    public bool AllowSmallPages { get; init; } = true;

    /// <summary>The highest device address the device can reach (default: all 64 bits).</summary>
    public ulong DmaMask { get; init; } = ulong.MaxValue;

    /// <summary>Try hugepages first (default true); tests turn this off to take the 4 KiB path on any host.</summary>
    internal bool TryHugePages { get; init; } = true;
}
