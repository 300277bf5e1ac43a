using System.Runtime.CompilerServices;
using System.Collections.Concurrent;
using Hotplug.Interop;
using Microsoft.Extensions.Logging;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Loop;

/// <summary>
/// The one event thread: one epoll set over every event source (uevent socket, SIGBUS eventfd, uio
/// fds, vfio request eventfds) plus a wake-up eventfd for posted work and stop. Everything that
/// decides a device's fate runs here, one thing at a time.
/// </summary>
internal sealed unsafe class EventLoop : IDisposable
{
    private const ulong WakeId = 0;
    private readonly SafeFdHandle _epoll;
    private readonly SafeFdHandle _wake;
    private readonly Thread _thread;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Action> _posted = new();
    private readonly Dictionary<ulong, Watch> _watches = [];
    private readonly Lock _lock = new();
    private ulong _nextId = 1;
    private volatile bool _stopping;

    /// <summary>Starts the event thread, restricted to <paramref name="cpus"/> when given (validated by the caller).</summary>
    /// <exception cref="ArgumentException">The kernel refused <paramref name="cpus"/> (none of them is allowed to this process).</exception>
    public EventLoop(ILogger logger, IReadOnlyCollection<int>? cpus = null)
    {
        _logger = logger;
        _epoll = new SafeFdHandle(epoll_create1(EPOLL_CLOEXEC));
        if (_epoll.IsInvalid)
            throw Sys.IoError("epoll_create1");
        _wake = new SafeFdHandle(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (_wake.IsInvalid)
            throw Sys.IoError("eventfd");
        Control(EPOLL_CTL_ADD, _wake.Fd, EPOLLIN, WakeId);
        int affinityError = 0;
        using var started = new ManualResetEventSlim();
        _thread = new Thread(() =>
        {
            if (cpus is not null)
                affinityError = ThreadAffinity.TryApply(cpus);
            started.Set();
            if (affinityError == 0)
                Run();
        }) { IsBackground = true, Name = "hotplug-events" };
        _thread.Start();
        started.Wait();
        if (affinityError != 0)
        {
            _thread.Join();
            _epoll.Dispose();
            _wake.Dispose();
            throw new ArgumentException($"The event thread cannot run on CPUs {string.Join(",", cpus!)}: {Sys.Describe(affinityError)} " +
                $"(sched_setaffinity, errno {affinityError}). Give CPUs this process may use (now {string.Join(",", ThreadAffinity.Current())}), " +
                "or null in EalOptions.EventThreadCpus.", "cpus");
        }
    }

    /// <summary>True on the event thread.</summary>
    public bool IsEventThread => Thread.CurrentThread == _thread;

    /// <summary>
    /// Watches <paramref name="fd"/> for <paramref name="events"/> (EPOLLERR and EPOLLHUP are always
    /// reported). <paramref name="onReady"/> runs on the event thread. Dispose the result before closing the fd.
    /// </summary>
    public IDisposable Add(int fd, int events, Action<int> onReady, string name)
    {
        Watch w;
        lock (_lock)
        {
            w = new Watch(this, _nextId++, fd, onReady, name);
            _watches.Add(w.Id, w);
        }
        try
        {
            Control(EPOLL_CTL_ADD, fd, events, w.Id);
        }
        catch
        {
            lock (_lock)
                _watches.Remove(w.Id);
            throw;
        }
        return w;
    }

    /// <summary>Runs <paramref name="work"/> on the event thread after what it is doing now.</summary>
    public void Post(Action work)
    {
        _posted.Enqueue(work);
        // On the event thread the loop drains the queue before it waits again: no wake-up round trip
        // (a write, an epoll_wait and a read: microseconds on the removal path).
        if (!IsEventThread)
            Wake();
    }

    /// <summary>Waits until the event thread has handled what was ready and posted before this call.</summary>
    public bool Flush(TimeSpan timeout)
    {
        if (IsEventThread)
            return true;
        using var done = new ManualResetEventSlim();
        Post(done.Set);
        return done.Wait(timeout);
    }

    private void Remove(Watch w)
    {
        lock (_lock)
        {
            if (!_watches.Remove(w.Id))
                return;
        }
        epoll_event ev = default;
        if (!_epoll.IsClosed)
            epoll_ctl(_epoll.Fd, EPOLL_CTL_DEL, w.Fd, &ev); // ENOENT/EBADF if the fd is already gone: fine
    }

    private void Control(int op, int fd, int events, ulong id)
    {
        epoll_event ev = default;
        ev.events = events;
        ev.data.u64 = id;
        if (epoll_ctl(_epoll.Fd, op, fd, &ev) != 0)
            throw Sys.IoError($"epoll_ctl({op}, fd {fd})");
    }

    private void Wake()
    {
        ulong one = 1;
        write(_wake.Fd, &one, 8);
    }

    private void Run()
    {
        const int Max = 32;
        epoll_event* events = stackalloc epoll_event[Max];
        while (!_stopping)
        {
            int n = epoll_wait(_epoll.Fd, events, Max, -1);
            if (n < 0)
            {
                int e = Sys.LastErrno;
                if (e == EINTR)
                    continue;
                _logger.LogCritical("epoll_wait failed: {Error}; the event thread stops", Sys.Describe(e));
                return;
            }
            for (int i = 0; i < n && !_stopping; i++)
            {
                ulong id = events[i].data.u64;
                if (id == WakeId)
                {
                    ulong count;
                    read(_wake.Fd, &count, 8);
                    continue;
                }
                Watch? w;
                lock (_lock)
                    _watches.TryGetValue(id, out w);
                if (w is null)
                    continue; // removed after epoll_wait returned
                try
                {
                    w.OnReady(events[i].events);
                }
                catch (Exception ex)
                {
                    _logger.LogError(ex, "Event source {Source} failed; it stays registered", w.Name);
                }
            }
            RunPosted();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    private void RunPosted()
    {
        while (!_stopping && _posted.TryDequeue(out var work))
        {
            try
            {
                work();
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Posted work failed on the event thread");
            }
        }
    }

    /// <summary>Stops and joins the event thread (unless called on it), then closes the epoll set.</summary>
    public void Dispose()
    {
        if (_stopping)
            return;
        _stopping = true;
        Wake();
        if (!IsEventThread && !_thread.Join(TimeSpan.FromSeconds(10)))
            _logger.LogError("The event thread did not stop within 10 s (a callback is blocking it)");
        lock (_lock)
            _watches.Clear();
        if (!IsEventThread)
        {
            _epoll.Dispose();
            _wake.Dispose();
        }
    }

    private sealed class Watch(EventLoop loop, ulong id, int fd, Action<int> onReady, string name) : IDisposable
    {
        public ulong Id { get; } = id;
        public int Fd { get; } = fd;
        public Action<int> OnReady { get; } = onReady;
        public string Name { get; } = name;
        public void Dispose() => loop.Remove(this);
    }
}
