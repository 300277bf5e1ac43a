using System.Runtime.CompilerServices;
using Hotplug.Loop;
using Hotplug.Interop;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// Watches a device's <c>/dev/uioN</c>: when the device goes, the kernel wakes it with POLLERR|POLLHUP
/// (and read() fails with EIO), milliseconds before any uevent. That is the earliest REMOVE for uio.
/// </summary>
internal sealed unsafe class UioWatch : IDisposable
{
    private readonly SafeFdHandle _fd;
    private readonly IDisposable _watch;

    private UioWatch(SafeFdHandle fd, IDisposable watch)
    {
        _fd = fd;
        _watch = watch;
    }

    public string Path { get; private init; } = "";

    /// <summary>Opens <paramref name="devNode"/> and calls <paramref name="onGone"/> once on the event thread when it reports ERR or HUP.</summary>
    public static UioWatch Open(string devNode, EventLoop loop, Action onGone)
    {
        var handle = Sys.Open(devNode, O_RDONLY | O_NONBLOCK | O_NOCTTY);
        int fd = handle.Fd;
        int fired = 0;
        try
        {
            // No EPOLLIN: interrupts are not ours to consume. ERR and HUP are always reported; one-shot
            // because after a hang-up they would be reported forever.
            var watch = loop.Add(fd, EPOLLONESHOT, events =>
            {
                if ((events & (EPOLLERR | EPOLLHUP)) != 0 && Interlocked.Exchange(ref fired, 1) == 0)
                    onGone();
            }, "uio " + devNode);
            return new UioWatch(handle, watch) { Path = devNode };
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public void Dispose() => Close();

    /// <summary>Stops watching and closes the node (idempotent). Non-virtual, so the warm-up can compile it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    internal void Close()
    {
        _watch.Dispose(); // both idempotent
        _fd.Dispose();
    }
}
