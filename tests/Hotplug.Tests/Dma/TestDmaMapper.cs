using Hotplug.Dma;

namespace Hotplug.Tests.Dma;

/// <summary>A mapper double: hands out IOVAs from the guest's real vIOMMU ranges and records every call.</summary>
internal sealed class TestDmaMapper(bool acceptsSmallPages = true) : IDmaMapper
{
    /// <summary>The usable ranges VFIO_IOMMU_GET_INFO reported in the QEMU guest (39 bits, MSI window excluded).</summary>
    public static readonly IovaRange[] GuestRanges = [new(0x0, 0xfedfffff), new(0xfef00000, 0x7fffffffff)];

    public IovaAllocator Iovas { get; } = new(GuestRanges);

    public List<(nint Va, ulong Length, ulong Iova)> Mapped { get; } = [];

    public List<(nint Va, ulong Length, ulong Iova)> Unmapped { get; } = [];

    public bool AcceptsSmallPages { get; } = acceptsSmallPages;

    public string Describe => "test mapper";

    public ulong Map(nint virtualAddress, ulong length)
    {
        ulong iova = Iovas.Allocate(length, IovaAllocator.NaturalAlignment(virtualAddress, length), ulong.MaxValue);
        Mapped.Add((virtualAddress, length, iova));
        return iova;
    }

    public void Unmap(nint virtualAddress, ulong length, ulong iova)
    {
        Iovas.Free(iova, length);
        Unmapped.Add((virtualAddress, length, iova));
    }
}
