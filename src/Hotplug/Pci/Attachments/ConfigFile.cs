using Hotplug.Interop;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>Config-space access by pread / pwrite at an offset of an open fd (sysfs <c>config</c>, a vfio config region).</summary>
internal static unsafe class ConfigFile
{
    public static void Read(SafeFdHandle fd, long at, Span<byte> into)
    {
        bool added = false;
        fd.DangerousAddRef(ref added); // the fd number stays ours while we use it, even if another thread releases it
        try
        {
            fixed (byte* p = into)
                if ((long)pread(fd.Fd, p, into.Length, at) != into.Length)
                    throw Sys.IoError($"pread of {into.Length} config bytes at 0x{at:x}");
        }
        finally
        {
            if (added)
                fd.DangerousRelease();
        }
    }

    public static void Write(SafeFdHandle fd, long at, ReadOnlySpan<byte> data)
    {
        bool added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            fixed (byte* p = data)
                if ((long)pwrite(fd.Fd, p, data.Length, at) != data.Length)
                    throw Sys.IoError($"pwrite of {data.Length} config bytes at 0x{at:x}");
        }
        finally
        {
            if (added)
                fd.DangerousRelease();
        }
    }
}
