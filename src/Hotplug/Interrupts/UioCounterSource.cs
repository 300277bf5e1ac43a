using Hotplug.Interop;
using static Tmds.Linux.LibC;

namespace Hotplug.Interrupts;

/// <summary>
/// A uio node (<c>/dev/uioN</c>): a read returns the device's cumulative interrupt count as a 4-byte integer
/// (EAGAIN when it has not moved since this fd's last read). The count reported is the difference to the last
/// value seen; the first read after open counts as 1 (the kernel's starting value is not visible to us).
/// After removal the node reports ERR|HUP and read() fails with EIO: broken.
/// </summary>
internal sealed unsafe class UioCounterSource(SafeFdHandle handle) : InterruptSource(handle)
{
    private uint _last;
    private bool _seen;

    /// <inheritdoc/>
    public override ulong ReadCount(out bool broken)
    {
        broken = false;
        ulong total = 0;
        try
        {
            using var fd = Handle.Lease();
            // Drain: a uio node has at most one value pending; a stand-in (a pipe) may have several.
            for (int i = 0; i < 64; i++)
            {
                uint value;
                long n = (long)read(fd.Fd, &value, 4);
                if (n == 4)
                {
                    total += _seen ? unchecked(value - _last) : 1u;
                    _last = value;
                    _seen = true;
                    continue;
                }
                int e = Sys.LastErrno;
                if (n < 0 && e == EINTR)
                    continue;
                if (!(n < 0 && e == EAGAIN))
                    broken = true; // EIO after removal, EOF of a stand-in, a short read
                break;
            }
        }
        catch (ObjectDisposedException)
        {
            broken = true;
        }
        return total;
    }
}
