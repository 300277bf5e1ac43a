using System.Runtime.InteropServices;

namespace Hotplug.Interop;

/// <summary>The type1 IOMMU part of <c>linux/vfio.h</c>: container info with its IOVA ranges, DMA map and unmap.</summary>
internal static class VfioIommu
{
    public static readonly int VFIO_IOMMU_GET_INFO = (';' << 8) | (100 + 12);
    public static readonly int VFIO_IOMMU_MAP_DMA = (';' << 8) | (100 + 13);
    public static readonly int VFIO_IOMMU_UNMAP_DMA = (';' << 8) | (100 + 14);

    public const uint VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
    public const uint VFIO_IOMMU_INFO_CAPS = 1 << 1;
    public const ushort VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
    public const uint VFIO_DMA_MAP_FLAG_READ = 1 << 0;
    public const uint VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_iommu_type1_info
    {
        public uint argsz;
        public uint flags;
        public ulong iova_pgsizes;
        public uint cap_offset;
        public uint pad;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_info_cap_header
    {
        public ushort id;
        public ushort version;
        public uint next;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_iova_range
    {
        public ulong start;
        public ulong end;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_iommu_type1_dma_map
    {
        public uint argsz;
        public uint flags;
        public ulong vaddr;
        public ulong iova;
        public ulong size;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_iommu_type1_dma_unmap
    {
        public uint argsz;
        public uint flags;
        public ulong iova;
        public ulong size;
    }
}
