using System.Threading.Tasks.Sources;
using Hotplug.Interop;
using static Tmds.Linux.LibC;

namespace Hotplug.Interrupts;

/// <summary>
/// One interrupt source of a device (an MSI-X / MSI vector, INTx, or a uio node). Consume it in exactly one
/// way: <see cref="WaitAsync"/>, <see cref="Wait"/> (blocking, for a data-path thread), <see cref="OnInterrupt"/>
/// (on the event thread), or <see cref="TakeEventFd"/>
/// (your own poll loop); choosing a second way throws <see cref="InvalidOperationException"/>. When the device
/// goes or the interrupts are disabled, every pending and later wait ends at once with
/// <see cref="InterruptWaitStatus.DeviceRemoved"/> / <see cref="InterruptWaitStatus.Disabled"/>.
/// </summary>
public sealed partial class InterruptVector
{
    private readonly InterruptSet _owner;
    private readonly InterruptSource _source;
    private readonly Lock _lock = new();
    private readonly Waiter _waiter;
    private Mode _mode;
    private InterruptWaitStatus _state = InterruptWaitStatus.Fired; // Fired = live
    private IDisposable? _watch;
    private ulong _pending;
    private bool _waiting;
    private CancellationTokenRegistration _cancel;
    private CancellationToken _waitToken;
    private Action<InterruptVector, ulong>? _callback;

    internal InterruptVector(InterruptSet owner, int index, InterruptKind kind, InterruptSource source)
    {
        _owner = owner;
        _source = source;
        Index = index;
        Kind = kind;
        _waiter = new Waiter(this);
    }

    private enum Mode { None, Wait, Callback, Raw, Blocking }

    /// <summary>The vector's number within its kind (0 for INTx and uio).</summary>
    public int Index { get; }

    /// <summary>The mechanism behind this vector.</summary>
    public InterruptKind Kind { get; }

    /// <summary>False once the device is gone or the interrupts were disabled.</summary>
    public bool IsActive
    {
        get
        {
            lock (_lock)
                return _state == InterruptWaitStatus.Fired;
        }
    }

    /// <summary>
    /// Waits for the vector to fire. Interrupts that arrive between waits are counted, not lost: the next wait
    /// completes at once with their number. One wait at a time. No allocation per wait in steady state.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another way of consuming the vector was chosen, or a wait is already pending.</exception>
    /// <exception cref="OperationCanceledException">(from the task) <paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<InterruptWait> WaitAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            Choose(Mode.Wait);
            if (_waiting)
                throw new InvalidOperationException($"Interrupt vector {Kind} {Index} already has a pending wait.");
            if (_state != InterruptWaitStatus.Fired)
                return new ValueTask<InterruptWait>(Terminal(_state));
            if (_pending != 0)
            {
                ulong n = _pending;
                _pending = 0;
                return new ValueTask<InterruptWait>(InterruptWait.Fired(n));
            }
            if (cancellationToken.IsCancellationRequested)
                return ValueTask.FromCanceled<InterruptWait>(cancellationToken);
            EnsureWatch();
            _waiter.Core.Reset();
            _waiting = true;
            short version = _waiter.Core.Version;
            _waitToken = cancellationToken;
            if (cancellationToken.CanBeCanceled)
                _cancel = cancellationToken.UnsafeRegister(static (s, ct) => ((InterruptVector)s!).Cancel(ct), this);
            return new ValueTask<InterruptWait>(_waiter, version);
        }
    }

    /// <summary>
    /// Runs <paramref name="callback"/> on the event thread each time the vector fires, with the count since the
    /// last call. Keep it short (it holds up every other event source). Dispose the result to stop; another
    /// callback may be set after that.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another way of consuming the vector was chosen, or a callback is set already.</exception>
    public IDisposable OnInterrupt(Action<InterruptVector, ulong> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        lock (_lock)
        {
            Choose(Mode.Callback);
            if (_callback is not null)
                throw new InvalidOperationException($"Interrupt vector {Kind} {Index} already has a callback.");
            _callback = callback;
            if (_state == InterruptWaitStatus.Fired)
                EnsureWatch();
            return new Subscription(this, callback);
        }
    }

    /// <summary>
    /// Hands the vector's fd to the caller's own poll loop: a duplicate (close-on-exec, non-blocking) that the
    /// caller owns, reads and closes. Nothing in Hotplug reads it. For <see cref="InterruptKind.Uio"/> it is the
    /// uio node (a 4-byte cumulative count per read); otherwise an eventfd (an 8-byte count per read).
    /// </summary>
    /// <exception cref="InvalidOperationException">Another way of consuming the vector was chosen, the fd was taken already, or the vector is no longer active.</exception>
    public int TakeEventFd()
    {
        lock (_lock)
        {
            if (_mode == Mode.Raw)
                throw new InvalidOperationException($"The fd of interrupt vector {Kind} {Index} was taken already.");
            Choose(Mode.Raw);
            if (_state != InterruptWaitStatus.Fired)
                throw new InvalidOperationException($"Interrupt vector {Kind} {Index} is {_state}.");
            using var fd = _source.Handle.Lease();
            return Sys.CheckIo(fcntl(fd.Fd, F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC) of an interrupt fd");
        }
    }

    /// <summary>
    /// Re-arms the vector after the driver has acked the device, where the mechanism needs it: INTx (vfio
    /// unmask), uio_pci_generic (clear INTx-disable in COMMAND), igb_uio (write 1 to the node). A no-op for
    /// MSI / MSI-X, and once the vector is no longer active (never throws because the device went away).
    /// </summary>
    /// <exception cref="IOException">The kernel refused while the device is still there.</exception>
    public void Acknowledge()
    {
        if (!IsActive)
            return;
        try
        {
            _owner.Unmask(Index);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException && !IsActive)
        {
            // the device went while we unmasked it
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Kind} {Index}";

    /// <summary>Ends the vector: completes a pending wait with <paramref name="state"/>, stops watching. Idempotent, any thread.</summary>
    internal void End(InterruptWaitStatus state)
    {
        IDisposable? watch;
        bool complete;
        lock (_lock)
        {
            if (_state != InterruptWaitStatus.Fired)
                return;
            _state = state;
            _pending = 0;
            _callback = null;
            watch = _watch;
            _watch = null;
            complete = _waiting && _mode == Mode.Wait;
            if (_mode == Mode.Blocking)
                WakeBlockedWaiter();
            else
                _waiting = false;
            _cancel.Unregister();
            if (complete)
                _waiter.Core.SetResult(Terminal(state));
        }
        watch?.Dispose();
    }

    private static InterruptWait Terminal(InterruptWaitStatus state) =>
        state == InterruptWaitStatus.DeviceRemoved ? InterruptWait.DeviceRemoved : InterruptWait.Disabled;

    private void Choose(Mode mode)
    {
        if (_mode != Mode.None && _mode != mode)
            throw new InvalidOperationException(
                $"Interrupt vector {Kind} {Index} is consumed through {Describe(_mode)}; it cannot also use {Describe(mode)}.");
        _mode = mode;
    }

    private static string Describe(Mode m) => m switch
    {
        Mode.Wait => "WaitAsync",
        Mode.Callback => "OnInterrupt",
        Mode.Blocking => "Wait",
        _ => "TakeEventFd",
    };

    // Under _lock. The watch starts with the first consumer: until then the fd keeps counting.
    private void EnsureWatch() => _watch ??= _owner.Watch(_source, OnReady, this);

    // On the event thread.
    private void OnReady(int events)
    {
        ulong count = _source.ReadCount(out bool broken);
        Action<InterruptVector, ulong>? callback = null;
        IDisposable? stop = null;
        lock (_lock)
        {
            if (_state != InterruptWaitStatus.Fired)
                return;
            if (broken)
            {
                // A uio node after removal reports ERR|HUP forever: stop watching. The removal itself arrives
                // through the attachment (DeviceGone); the vector ends then.
                stop = _watch;
                _watch = null;
            }
            if (count != 0)
            {
                if (_mode == Mode.Callback)
                {
                    callback = _callback;
                }
                else if (_waiting)
                {
                    _waiting = false;
                    _cancel.Unregister();
                    ulong n = _pending + count;
                    _pending = 0;
                    _waiter.Core.SetResult(InterruptWait.Fired(n));
                }
                else
                {
                    _pending += count;
                }
            }
        }
        stop?.Dispose();
        if (broken)
            _owner.SourceBroken(this, events);
        callback?.Invoke(this, count);
    }

    private void Cancel(CancellationToken token)
    {
        lock (_lock)
        {
            if (!_waiting || _waitToken != token)
                return; // that wait ended already (a late callback)
            _waiting = false;
            _waiter.Core.SetException(new OperationCanceledException(token));
        }
    }

    private void Unsubscribe(Action<InterruptVector, ulong> callback)
    {
        IDisposable? watch = null;
        lock (_lock)
        {
            if (!ReferenceEquals(_callback, callback))
                return;
            _callback = null;
            watch = _watch; // unread fires stay counted in the fd for the next callback
            _watch = null;
        }
        watch?.Dispose();
    }

    private sealed class Subscription(InterruptVector vector, Action<InterruptVector, ulong> callback) : IDisposable
    {
        public void Dispose() => vector.Unsubscribe(callback);
    }

    private sealed class Waiter(InterruptVector vector) : IValueTaskSource<InterruptWait>
    {
        // Continuations never run inline on the event thread (nor under our lock).
        public ManualResetValueTaskSourceCore<InterruptWait> Core = new() { RunContinuationsAsynchronously = true };

        public InterruptWait GetResult(short token) => Core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => Core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            Core.OnCompleted(continuation, state, token, flags);

        public override string ToString() => $"wait on {vector}";
    }
}
