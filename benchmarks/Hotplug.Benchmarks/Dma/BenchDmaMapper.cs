using Hotplug.Dma;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotplug.Benchmarks.Dma;

/// <summary>
/// A mapper double like the tests' TestDmaMapper: IOVAs from the QEMU guest's vIOMMU ranges, nothing recorded.
/// With it an allocator takes real locked 4 KiB pages (no hugepages needed) and does everything but the ioctl.
/// </summary>
internal sealed class BenchDmaMapper : IDmaMapper
{
    private readonly IovaAllocator _iovas = new([new(0x0, 0xfedfffff), new(0xfef00000, 0x7fffffffff)]);

    public bool AcceptsSmallPages => true;

    public string Describe => "benchmark mapper";

    public ulong Map(nint virtualAddress, ulong length) =>
        _iovas.Allocate(length, IovaAllocator.NaturalAlignment(virtualAddress, length), ulong.MaxValue);

    public void Unmap(nint virtualAddress, ulong length, ulong iova) => _iovas.Free(iova, length);

    /// <summary>An allocator on 4 KiB pages (hugepages not tried, so every host takes the same path).</summary>
    public static DmaAllocator NewAllocator() =>
        new(new BenchDmaMapper(), new DmaOptions { TryHugePages = false }, NullLogger.Instance);
}
