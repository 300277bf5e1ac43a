using Microsoft.Extensions.Logging;

namespace Hotplug.Dma;

/// <summary>Source-generated log calls of the DMA allocator.</summary>
internal static partial class DmaLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "No hugepages for DMA memory ({Reason}); using locked 4 KiB pages for {Mapper}. " +
        "Reserve hugepages (hugepages=N on the kernel command line, or echo N > /proc/sys/vm/nr_hugepages) for fewer IOMMU mappings")]
    public static partial void SmallPageFallback(this ILogger logger, string reason, string mapper);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DMA chunk of 0x{Length:x} bytes ({PageSize}-byte pages) at 0x{Address:x} mapped at IOVA 0x{Iova:x}")]
    public static partial void ChunkMapped(this ILogger logger, ulong length, ulong pageSize, nint address, ulong iova);
}
