using System.Runtime.InteropServices;

namespace Hotplug.Linux;

/// <summary>The parts of <c>linux/vfio.h</c> Hotplug uses (Tmds.LibC has none of it).</summary>
internal static class VfioInterop
{
    private const int Type = ';', Base = 100;
    private static int Io(int nr) => (Type << 8) | (Base + nr); // _IO(VFIO_TYPE, VFIO_BASE + nr)

    public static readonly int GetApiVersion = Io(0);
    public static readonly int CheckExtension = Io(1);
    public static readonly int SetIommu = Io(2);
    public static readonly int GroupGetStatus = Io(3);
    public static readonly int GroupSetContainer = Io(4);
    public static readonly int GroupUnsetContainer = Io(5);
    public static readonly int GroupGetDeviceFd = Io(6);
    public static readonly int DeviceGetInfo = Io(7);
    public static readonly int DeviceGetRegionInfo = Io(8);
    public static readonly int DeviceGetIrqInfo = Io(9);
    public static readonly int DeviceSetIrqs = Io(10);
    public static readonly int DeviceReset = Io(11);

    public const int ApiVersion = 0;
    public const int Type1v2Iommu = 3;
    public const int NoIommuIommu = 8;
    public const uint GroupFlagsViable = 1;

    public const uint RegionFlagRead = 1, RegionFlagWrite = 2, RegionFlagMmap = 4;
    public const uint ConfigRegionIndex = 7;
    public const uint PciReqIrqIndex = 4;

    public const uint IrqSetDataNone = 1, IrqSetDataEventfd = 4, IrqSetActionTrigger = 32;

    [StructLayout(LayoutKind.Sequential)]
    public struct GroupStatus
    {
        public uint Argsz;
        public uint Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct RegionInfo
    {
        public uint Argsz;
        public uint Flags;
        public uint Index;
        public uint CapOffset;
        public ulong Size;
        public ulong Offset;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IrqInfo
    {
        public uint Argsz;
        public uint Flags;
        public uint Index;
        public uint Count;
    }

    /// <summary>vfio_irq_set with room for one eventfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IrqSetOneFd
    {
        public uint Argsz;
        public uint Flags;
        public uint Index;
        public uint Start;
        public uint Count;
        public int Fd;
    }
}
