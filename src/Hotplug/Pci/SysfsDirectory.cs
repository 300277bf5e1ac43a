using System.Text;
using Hotplug.Interop;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// One sysfs device directory, opened once: attributes are read with <c>openat</c>/<c>read</c> relative
/// to it, so an absent optional attribute costs one failed system call (no exception, no stat, no lock)
/// and a present one three, like a C scanner.
/// </summary>
internal sealed unsafe class SysfsDirectory : IDisposable
{
    private readonly SafeFdHandle _fd;

    private SysfsDirectory(string path, SafeFdHandle fd)
    {
        Path = path;
        _fd = fd;
    }

    public string Path { get; }

    /// <exception cref="DirectoryNotFoundException">The directory is not there (a removal in progress).</exception>
    /// <exception cref="SysfsFormatException">It cannot be opened as a directory.</exception>
    public static SysfsDirectory Open(string path)
    {
        int fd = Sys.TryOpenFd(path, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
        {
            int e = Sys.LastErrno;
            if (e == ENOENT)
                throw new DirectoryNotFoundException($"{path} does not exist");
            throw new SysfsFormatException(path, "cannot be opened: " + Sys.Describe(e));
        }
        return new SysfsDirectory(path, new SafeFdHandle(fd));
    }

    public string PathOf(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The trimmed content of an attribute, or null when there is no such entry.</summary>
    public string? ReadText(string name)
    {
        byte* buffer = stackalloc byte[4096]; // a sysfs attribute is at most one page
        byte* n = stackalloc byte[256];
        int fd = openat(_fd.Fd, CString(name, n, 256), O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
        if (fd < 0)
        {
            int e = Sys.LastErrno;
            if (e == ENOENT)
                return null;
            throw new SysfsFormatException(PathOf(name), "cannot be read: " + Sys.Describe(e));
        }
        long got;
        try
        {
            do
                got = (long)read(fd, buffer, 4096);
            while (got < 0 && Sys.LastErrno == EINTR);
            if (got < 0)
                throw new SysfsFormatException(PathOf(name), "cannot be read: " + Sys.Describe(Sys.LastErrno));
        }
        finally
        {
            close(fd);
        }
        return Encoding.UTF8.GetString(buffer, (int)got).Trim();
    }

    /// <summary>The last component of a symlink's target (<c>driver</c> → <c>vfio-pci</c>), or null.</summary>
    public string? LinkName(string name)
    {
        byte* buffer = stackalloc byte[4096];
        byte* p = stackalloc byte[256];
        long n = (long)readlinkat(_fd.Fd, CString(name, p, 256), buffer, 4096);
        if (n <= 0)
            return null; // absent (ENOENT) or not a link (EINVAL)
        string target = Encoding.UTF8.GetString(buffer, (int)n).TrimEnd('/');
        return System.IO.Path.GetFileName(target);
    }

    /// <summary>Writes <paramref name="s"/> NUL-terminated into <paramref name="buffer"/> (no heap allocation).</summary>
    private static byte* CString(string s, byte* buffer, int size)
    {
        int len = Encoding.UTF8.GetBytes(s, new Span<byte>(buffer, size - 1));
        buffer[len] = 0;
        return buffer;
    }

    public void Dispose() => _fd.Dispose();
}
