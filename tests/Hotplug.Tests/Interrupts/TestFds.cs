using Hotplug.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Tests.Interrupts;

/// <summary>Raw fd calls for the interrupt tests (kept out of the async test methods).</summary>
internal static unsafe class TestFds
{
    /// <summary>Polls <paramref name="fd"/> for POLLIN (10 s) and reads its 8-byte eventfd counter.</summary>
    public static ulong PollAndReadEventFd(int fd)
    {
        pollfd p = default;
        p.fd = fd;
        p.events = POLLIN;
        Sys.CheckIo(poll(&p, 1, 10_000), "poll");
        ulong count;
        Sys.CheckIo((long)read(fd, &count, 8), "read of an eventfd");
        return count;
    }

    public static bool IsCloseOnExec(int fd) => (Sys.CheckIo(fcntl(fd, F_GETFD), "fcntl(F_GETFD)") & FD_CLOEXEC) != 0;

    public static void Close(int fd) => close(fd);

    public static void WriteUInt32(int fd, uint value) =>
        Sys.CheckIo((long)write(fd, &value, 4) == 4 ? 4 : -1, "write of 4 bytes");

    public static int ReadInt32(int fd)
    {
        int value;
        Sys.CheckIo((long)read(fd, &value, 4) == 4 ? 4 : -1, "read of 4 bytes");
        return value;
    }

    public static void MakeFifo(string path)
    {
        fixed (byte* p = Sys.NulTerminated(path))
            Sys.CheckIo(mkfifo(p, 0x180), "mkfifo " + path);
    }
}
