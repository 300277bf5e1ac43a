namespace Hotplug.Dma;

/// <summary>How an attachment makes memory visible to its device (a vfio container, or physical addresses for uio).</summary>
internal interface IDmaMapper
{
    /// <summary>
    /// True if ranges of ordinary 4 KiB pages can be mapped (vfio: the IOMMU stitches them together). False when the
    /// device needs physically contiguous memory (uio): only hugepages, or a single 4 KiB page.
    /// </summary>
    bool AcceptsSmallPages { get; }

    /// <summary>
    /// Makes <paramref name="length"/> bytes at <paramref name="virtualAddress"/> device-visible and returns the
    /// device address of the first byte; the range is contiguous on the device. The address should be aligned like
    /// the virtual address (see <see cref="IovaAllocator.NaturalAlignment"/>): buffer alignment relies on it.
    /// </summary>
    /// <exception cref="DmaException">It cannot be done; the message names the fix.</exception>
    ulong Map(nint virtualAddress, ulong length);

    /// <summary>Undoes <see cref="Map"/> of the same range.</summary>
    void Unmap(nint virtualAddress, ulong length, ulong iova);

    /// <summary>What this mapper is, for messages (e.g. "vfio container of 0000:01:00.0").</summary>
    string Describe { get; }
}
