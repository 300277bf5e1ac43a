using Hotplug.Loop;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// Watches a vfio request eventfd. vfio-pci writes it when it wants the device back (and again every
/// 10 s until it gets it); the first write calls <c>onRequest</c>, repeats are absorbed.
/// </summary>
internal static unsafe class VfioRequestNotifier
{
    public static IDisposable Watch(EventLoop loop, int eventFd, Action onRequest)
    {
        int fired = 0;
        return loop.Add(eventFd, EPOLLIN, _ =>
        {
            ulong count;
            read(eventFd, &count, 8);
            if (Interlocked.Exchange(ref fired, 1) == 0)
                onRequest();
        }, "vfio-request");
    }
}
