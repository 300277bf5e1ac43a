using System.Runtime.CompilerServices;
using Hotplug.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Events;

/// <summary>Reads the shim's fault ring when its eventfd fires, on the event thread.</summary>
internal sealed unsafe class FaultChannel : IDisposable
{
    private readonly int _efd;
    private readonly Action<NativeShim.Fault> _onFault;
    private readonly IDisposable _watch;

    public FaultChannel(EventLoop loop, Action<NativeShim.Fault> onFault)
    {
        _efd = NativeShim.SigbusEventFd();
        if (_efd < 0)
            throw new InvalidOperationException("The SIGBUS shim has no eventfd; install it first.");
        _onFault = onFault;
        _watch = loop.Add(_efd, EPOLLIN, OnReadable, "sigbus-eventfd");
        Drain(); // faults recorded before we watched
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public void Drain()
    {
        ulong count;
        read(_efd, &count, 8); // resets the counter; EAGAIN when nothing: fine
        const int Batch = 64;
        NativeShim.Fault* faults = stackalloc NativeShim.Fault[Batch];
        int n;
        while ((n = NativeShim.FaultRead(faults, Batch)) > 0)
        {
            for (int i = 0; i < n; i++)
                _onFault(faults[i]);
        }
    }

    /// <summary>The eventfd's epoll handler (a named method, so the warm-up can compile it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    internal void OnReadable(int events) => Drain();

    public void Dispose() => _watch.Dispose(); // the eventfd belongs to the shim, for the process's life
}
