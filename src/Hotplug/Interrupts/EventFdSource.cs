using Hotplug.Interop;
using static Tmds.Linux.LibC;

namespace Hotplug.Interrupts;

/// <summary>An eventfd a backend armed the device with: one 8-byte read returns the count and resets it.</summary>
internal sealed unsafe class EventFdSource(SafeFdHandle handle) : InterruptSource(handle)
{
    /// <summary>A new eventfd (<c>EFD_CLOEXEC | EFD_NONBLOCK</c>).</summary>
    public static EventFdSource Create() => new(Sys.CheckFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd for an interrupt"));

    /// <inheritdoc/>
    public override ulong ReadCount(out bool broken)
    {
        broken = false;
        try
        {
            using var fd = Handle.Lease();
            ulong count;
            while (true)
            {
                long n = (long)read(fd.Fd, &count, 8);
                if (n == 8)
                    return count;
                int e = Sys.LastErrno;
                if (n < 0 && e == EINTR)
                    continue;
                if (n < 0 && e == EAGAIN)
                    return 0;
                broken = true;
                return 0;
            }
        }
        catch (ObjectDisposedException)
        {
            broken = true;
            return 0;
        }
    }
}
