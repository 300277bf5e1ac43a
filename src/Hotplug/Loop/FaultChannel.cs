using System.Runtime.CompilerServices;
using Hotplug.Interop;
using static Tmds.Linux.LibC;

namespace Hotplug.Loop;

/// <summary>Reads the shim's fault ring when its eventfd fires, on the event thread.</summary>
internal sealed unsafe class FaultChannel : IDisposable
{
    private readonly int _efd;
    private readonly Action<NativeShim.hp_fault> _onFault;
    private readonly IDisposable _watch;

    public FaultChannel(EventLoop loop, Action<NativeShim.hp_fault> onFault)
    {
        _efd = NativeShim.hp_sigbus_eventfd();
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
        NativeShim.hp_fault* faults = stackalloc NativeShim.hp_fault[Batch];
        int n;
        while ((n = NativeShim.hp_fault_read(faults, Batch)) > 0)
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
