using Hotplug.Dma;
using Hotplug.Interop;
using Microsoft.Extensions.Logging;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// The DMA mappings of the bus's vfio container. IOVAs come from the container's usable ranges (learnt from
/// <c>VFIO_IOMMU_GET_INFO</c>; until then, a conservative range below the x86 MSI window), never 0, hugepage
/// aligned for hugepage chunks, below the drivers' DMA mask. The table of mappings outlives the container: the
/// kernel drops every mapping when the last group leaves (a removal), and they are replayed at the SAME IOVAs when
/// a group is attached again, so device addresses an app stored in its rings stay valid. Memory registered while no
/// device is attached is mapped when one comes.
/// </summary>
internal sealed unsafe class VfioDmaMapper(ILogger logger) : IDmaMapper
{
    private static readonly IovaRange[] Conservative = [new(0x10_0000, 0xFEDF_FFFF)];
    private readonly Lock _lock = new();
    private readonly List<Mapping> _mappings = [];
    private IovaAllocator _iova = new(Conservative);
    private SafeFdHandle? _container;
    private ulong _mask = ulong.MaxValue;

    public bool AcceptsSmallPages => true;

    public string Describe => "the vfio type1 IOMMU";

    /// <summary>The live mappings (for tests and diagnostics).</summary>
    public int Count { get { lock (_lock) return _mappings.Count; } }

    /// <summary>True while a container with an IOMMU is set (a device is attached).</summary>
    public bool Active { get { lock (_lock) return _container is not null; } }

    /// <summary>Lowers the mask every later IOVA must fit under (the smallest DMA mask of the drivers that asked for DMA).</summary>
    public void RestrictMask(ulong mask)
    {
        lock (_lock)
            _mask = Math.Min(_mask, mask);
    }

    public ulong Map(nint virtualAddress, ulong length)
    {
        lock (_lock)
        {
            ulong iova = _iova.Allocate(length, IovaAllocator.NaturalAlignment(virtualAddress, length), _mask);
            if (_container is { } c && MapDma(c, virtualAddress, iova, length) is { } error)
            {
                _iova.Free(iova, length);
                throw new DmaException($"VFIO_IOMMU_MAP_DMA of {length} bytes at IOVA 0x{iova:x} failed: {error}.");
            }
            _mappings.Add(new Mapping(virtualAddress, length, iova));
            return iova;
        }
    }

    public void Unmap(nint virtualAddress, ulong length, ulong iova)
    {
        lock (_lock)
        {
            int i = _mappings.FindIndex(m => m.Iova == iova && m.Length == length);
            if (i < 0)
                return;
            _mappings.RemoveAt(i);
            if (_container is { } c)
                UnmapDma(c, iova, length);
            _iova.Free(iova, length);
        }
    }

    /// <summary>A container with an IOMMU is set: learn its usable IOVA ranges and replay every mapping at its IOVA.</summary>
    public void Attach(SafeFdHandle container)
    {
        lock (_lock)
        {
            _container = container;
            var usable = UsableRanges(container);
            if (usable.Count > 0)
            {
                var next = new IovaAllocator(Intersect(usable, Conservative));
                foreach (var m in _mappings)
                {
                    if (!usable.Any(r => m.Iova >= r.Start && m.Iova + m.Length - 1 <= r.End))
                        logger.LogError("DMA mapping at IOVA 0x{Iova:x} ({Length} bytes) is outside this IOMMU's usable ranges; the device cannot reach it", m.Iova, m.Length);
                    else
                        next.Reserve(m.Iova, m.Length);
                }
                _iova = next;
            }
            int replayed = 0;
            foreach (var m in _mappings)
            {
                if (MapDma(container, m.VirtualAddress, m.Iova, m.Length) is { } error)
                    logger.LogError("Replaying the DMA mapping at IOVA 0x{Iova:x} failed: {Error}", m.Iova, error);
                else
                    replayed++;
            }
            if (_mappings.Count > 0)
                logger.LogInformation("vfio container set: {Replayed} of {Count} DMA mappings replayed at their IOVAs", replayed, _mappings.Count);
        }
    }

    /// <summary>The last group left: the kernel dropped every mapping; the table stays for the next container.</summary>
    public void Detach()
    {
        lock (_lock)
            _container = null;
    }

    private static string? MapDma(SafeFdHandle container, nint va, ulong iova, ulong length)
    {
        VfioIommu.vfio_iommu_type1_dma_map map = new()
        {
            argsz = (uint)sizeof(VfioIommu.vfio_iommu_type1_dma_map),
            flags = VfioIommu.VFIO_DMA_MAP_FLAG_READ | VfioIommu.VFIO_DMA_MAP_FLAG_WRITE,
            vaddr = (ulong)va,
            iova = iova,
            size = length,
        };
        using var fd = container.Lease();
        return ioctl(fd.Fd, VfioIommu.VFIO_IOMMU_MAP_DMA, &map) == 0 ? null : Sys.Describe(Sys.LastErrno);
    }

    private static void UnmapDma(SafeFdHandle container, ulong iova, ulong length)
    {
        VfioIommu.vfio_iommu_type1_dma_unmap unmap = new() { argsz = (uint)sizeof(VfioIommu.vfio_iommu_type1_dma_unmap), iova = iova, size = length };
        using var fd = container.Lease();
        ioctl(fd.Fd, VfioIommu.VFIO_IOMMU_UNMAP_DMA, &unmap); // ENOENT after a removal dropped it: fine
    }

    /// <summary>The container's usable IOVA ranges (the capability chain of VFIO_IOMMU_GET_INFO), or none if it does not say.</summary>
    private static List<IovaRange> UsableRanges(SafeFdHandle container)
    {
        var ranges = new List<IovaRange>();
        const int Size = 4096;
        byte* buf = stackalloc byte[Size];
        new Span<byte>(buf, Size).Clear();
        var info = (VfioIommu.vfio_iommu_type1_info*)buf;
        info->argsz = Size;
        using var fd = container.Lease();
        if (ioctl(fd.Fd, VfioIommu.VFIO_IOMMU_GET_INFO, buf) != 0 || (info->flags & VfioIommu.VFIO_IOMMU_INFO_CAPS) == 0)
            return ranges;
        for (uint off = info->cap_offset; off != 0 && off + sizeof(VfioIommu.vfio_info_cap_header) <= Size;)
        {
            var header = (VfioIommu.vfio_info_cap_header*)(buf + off);
            if (header->id == VfioIommu.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE)
            {
                uint n = *(uint*)(buf + off + sizeof(VfioIommu.vfio_info_cap_header));
                var first = (VfioIommu.vfio_iova_range*)(buf + off + sizeof(VfioIommu.vfio_info_cap_header) + 8);
                for (uint i = 0; i < n && (byte*)(first + i + 1) <= buf + Size; i++)
                    ranges.Add(new IovaRange(first[i].start, first[i].end));
            }
            off = header->next;
        }
        return ranges;
    }

    private static List<IovaRange> Intersect(List<IovaRange> a, IovaRange[] b)
    {
        var result = new List<IovaRange>();
        foreach (var x in a)
        {
            foreach (var y in b)
            {
                ulong start = Math.Max(x.Start, y.Start), end = Math.Min(x.End, y.End);
                if (start < end)
                    result.Add(new IovaRange(start, end));
            }
        }
        return result.Count > 0 ? result : a;
    }

    private readonly record struct Mapping(nint VirtualAddress, ulong Length, ulong Iova);
}
