using Hotplug.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Interrupts;

/// <summary>The blocking wait: the calling thread polls the vector's own fd, with no hop through the event thread.</summary>
public sealed partial class InterruptVector
{
    private SafeFdHandle? _end; // written by End(): wakes a thread blocked in Wait

    /// <summary>
    /// Blocks the calling thread (a data-path thread that has nothing else to do) until the vector fires, the
    /// device goes, the interrupts are disabled, or <paramref name="timeout"/> passes. It polls the vector's own fd:
    /// the wake-up costs what a C program's does, with no event-thread or thread-pool hop (<see cref="WaitAsync"/>
    /// pays both). Interrupts between waits are counted, not lost. One waiting thread at a time.
    /// </summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <exception cref="InvalidOperationException">Another way of consuming the vector was chosen, or a thread is already waiting.</exception>
    public unsafe InterruptWait Wait(TimeSpan timeout)
    {
        SafeFdHandle end;
        lock (_lock)
        {
            Choose(Mode.Blocking);
            if (_waiting)
                throw new InvalidOperationException($"Interrupt vector {Kind} {Index} already has a waiting thread.");
            if (_state != InterruptWaitStatus.Fired)
                return Terminal(_state);
            if (_pending != 0)
            {
                ulong n = _pending;
                _pending = 0;
                return InterruptWait.Fired(n);
            }
            end = _end ??= Sys.CheckFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd for a blocking interrupt wait");
            _waiting = true;
        }
        try
        {
            using var source = _source.Handle.Lease();
            using var wake = end.Lease();
            long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            pollfd* fds = stackalloc pollfd[2];
            while (true)
            {
                fds[0] = new pollfd { fd = source.Fd, events = POLLIN };
                fds[1] = new pollfd { fd = wake.Fd, events = POLLIN };
                int ms = deadline == long.MaxValue ? -1 : (int)Math.Clamp(deadline - Environment.TickCount64, 0, int.MaxValue);
                int n = poll(fds, 2, ms);
                if (n < 0 && Sys.LastErrno == EINTR)
                    continue;
                Sys.CheckIo(n, "poll of an interrupt fd");
                lock (_lock)
                {
                    if (_state != InterruptWaitStatus.Fired)
                        return Terminal(_state);
                }
                if (n == 0)
                    return InterruptWait.TimedOut;
                if ((fds[0].revents & POLLIN) != 0)
                {
                    ulong count = _source.ReadCount(out _);
                    if (count != 0)
                        return InterruptWait.Fired(count);
                }
                if ((fds[0].revents & (POLLERR | POLLHUP)) != 0)
                {
                    // A uio node hangs up when its device goes; the removal itself ends the vector (End): wait for it.
                    fds[0].fd = -1;
                    Sys.CheckIo(poll(fds + 1, 1, ms), "poll of the interrupt end");
                    lock (_lock)
                        return _state != InterruptWaitStatus.Fired ? Terminal(_state) : InterruptWait.TimedOut;
                }
            }
        }
        finally
        {
            lock (_lock)
                _waiting = false;
        }
    }

    // Under _lock, from End().
    private unsafe void WakeBlockedWaiter()
    {
        if (_end is not { } end || end.IsClosed)
            return;
        ulong one = 1;
        using (var fd = end.Lease())
            write(fd.Fd, &one, 8);
        end.Dispose(); // closes once the woken thread has let go of it; later waits end before touching it
    }
}
