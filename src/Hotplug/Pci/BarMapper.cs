using System.Text;
using Hotplug.Linux;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>Maps BARs (sysfs <c>resourceN</c>, <c>/dev/uioN</c> maps, vfio regions) and registers them with the shim.</summary>
internal static unsafe class BarMapper
{
    /// <summary>Maps a BAR through sysfs <c>resourceN</c> of the device.</summary>
    public static MappedBar MapSysfsResource(PciDeviceInfo info, BarInfo bar, BarFill fill, ulong cookie) =>
        MapFile(Path.Combine(info.SysfsPath, $"resource{bar.Index}"), 0, bar.Index, bar.Length, BarMappingKind.SysfsResource, fill, cookie);

    /// <summary>Maps map <paramref name="mapIndex"/> of a uio node (offset = index × page size).</summary>
    public static MappedBar MapUio(string devNode, int mapIndex, BarInfo bar, BarFill fill, ulong cookie) =>
        MapFile(devNode, (long)mapIndex * Environment.SystemPageSize, bar.Index, bar.Length, BarMappingKind.Uio, fill, cookie);

    /// <summary>Maps <paramref name="length"/> bytes at <paramref name="offset"/> of an open fd (a vfio device).</summary>
    public static MappedBar MapFd(int fd, long offset, int index, ulong length, BarMappingKind kind, BarFill fill, ulong cookie)
    {
        void* p = mmap(null, (size_t)(nuint)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
        if (p == MAP_FAILED)
            throw Errno.FromLast($"mmap of BAR{index} ({length} bytes at offset 0x{offset:x})");
        return Register((nint)p, index, length, kind, fill, cookie);
    }

    private static MappedBar MapFile(string path, long offset, int index, ulong length, BarMappingKind kind, BarFill fill, ulong cookie)
    {
        if (length == 0)
            throw new ArgumentException($"BAR{index} has no length.");
        int fd;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
            fd = open(p, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0)
            throw Errno.FromLast($"open {path}");
        try
        {
            return MapFd(fd, offset, index, length, kind, fill, cookie);
        }
        finally
        {
            close(fd); // the mapping keeps its own reference
        }
    }

    private static MappedBar Register(nint address, int index, ulong length, BarMappingKind kind, BarFill fill, ulong cookie)
    {
        int slot = NativeShim.RangeAdd(address, (nuint)length, cookie, fill == BarFill.AllOnes ? NativeShim.FillOnes : NativeShim.FillZero);
        if (slot < 0)
        {
            munmap((void*)address, (size_t)(nuint)length);
            throw Errno.Exception($"registering BAR{index} with the SIGBUS shim", -slot);
        }
        return new MappedBar(index, address, length, slot, kind, fill);
    }
}
