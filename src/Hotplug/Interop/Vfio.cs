using System.Runtime.InteropServices;

namespace Hotplug.Interop;

/// <summary>The parts of <c>linux/vfio.h</c> Hotplug uses (Tmds.LibC has none of it), with their C names.</summary>
internal static class Vfio
{
    private const int VFIO_TYPE = ';', VFIO_BASE = 100;
    private static int _IO(int nr) => (VFIO_TYPE << 8) | (VFIO_BASE + nr);

    public static readonly int VFIO_GET_API_VERSION = _IO(0);
    public static readonly int VFIO_CHECK_EXTENSION = _IO(1);
    public static readonly int VFIO_SET_IOMMU = _IO(2);
    public static readonly int VFIO_GROUP_GET_STATUS = _IO(3);
    public static readonly int VFIO_GROUP_SET_CONTAINER = _IO(4);
    public static readonly int VFIO_GROUP_UNSET_CONTAINER = _IO(5);
    public static readonly int VFIO_GROUP_GET_DEVICE_FD = _IO(6);
    public static readonly int VFIO_DEVICE_GET_INFO = _IO(7);
    public static readonly int VFIO_DEVICE_GET_REGION_INFO = _IO(8);
    public static readonly int VFIO_DEVICE_GET_IRQ_INFO = _IO(9);
    public static readonly int VFIO_DEVICE_SET_IRQS = _IO(10);
    public static readonly int VFIO_DEVICE_RESET = _IO(11);

    public const int VFIO_API_VERSION = 0;
    public const int VFIO_TYPE1v2_IOMMU = 3;
    public const int VFIO_NOIOMMU_IOMMU = 8;
    public const uint VFIO_GROUP_FLAGS_VIABLE = 1;

    public const uint VFIO_REGION_INFO_FLAG_READ = 1, VFIO_REGION_INFO_FLAG_WRITE = 2, VFIO_REGION_INFO_FLAG_MMAP = 4;
    public const uint VFIO_PCI_CONFIG_REGION_INDEX = 7;
    public const uint VFIO_PCI_REQ_IRQ_INDEX = 4;

    public const uint VFIO_IRQ_SET_DATA_NONE = 1, VFIO_IRQ_SET_DATA_EVENTFD = 4, VFIO_IRQ_SET_ACTION_TRIGGER = 32;

    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_group_status
    {
        public uint argsz;
        public uint flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_region_info
    {
        public uint argsz;
        public uint flags;
        public uint index;
        public uint cap_offset;
        public ulong size;
        public ulong offset;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_irq_info
    {
        public uint argsz;
        public uint flags;
        public uint index;
        public uint count;
    }

    /// <summary><c>struct vfio_irq_set</c> with room for one eventfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_irq_set_one_fd
    {
        public uint argsz;
        public uint flags;
        public uint index;
        public uint start;
        public uint count;
        public int fd;
    }
}
