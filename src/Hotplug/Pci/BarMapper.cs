using Hotplug.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>Maps BARs (sysfs <c>resourceN</c>, <c>/dev/uioN</c> maps, vfio regions) and registers them with the shim.</summary>
internal static unsafe class BarMapper
{
    /// <summary>Maps <paramref name="length"/> bytes at <paramref name="offset"/> of the file at <paramref name="path"/>.</summary>
    public static MappedBar MapFile(string path, long offset, int index, ulong length, BarMappingKind kind, BarFill fill, ulong cookie)
    {
        if (length == 0)
            throw new ArgumentException($"BAR{index} has no length.");
        using var fd = Sys.Open(path, O_RDWR);
        return MapFd(fd.Fd, offset, index, length, kind, fill, cookie); // the mapping keeps its own reference
    }

    /// <summary>Maps <paramref name="length"/> bytes at <paramref name="offset"/> of an open fd (a vfio device).</summary>
    public static MappedBar MapFd(int fd, long offset, int index, ulong length, BarMappingKind kind, BarFill fill, ulong cookie)
    {
        void* p = mmap(null, (size_t)(nuint)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
        if (p == MAP_FAILED)
            throw Sys.IoError($"mmap of BAR{index} ({length} bytes at offset 0x{offset:x})");
        // A child forked without exec must not inherit the device's memory: it would pin a vfio device until it exits.
        if (madvise(p, (size_t)(nuint)length, MADV_DONTFORK) != 0)
        {
            var e = Sys.IoError($"madvise(MADV_DONTFORK) of BAR{index}");
            munmap(p, (size_t)(nuint)length);
            throw e;
        }
        int slot = NativeShim.hp_range_add((nint)p, (nuint)length, cookie, fill == BarFill.AllOnes ? NativeShim.HP_FILL_ONES : NativeShim.HP_FILL_ZERO);
        if (slot < 0)
        {
            munmap(p, (size_t)(nuint)length);
            throw Sys.IoError($"registering BAR{index} with the SIGBUS shim", -slot);
        }
        return new MappedBar(index, (nint)p, length, slot, cookie, kind, fill);
    }
}
