using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Hotplug.Loop;
using Hotplug.Uevents;
using Microsoft.Extensions.Logging;

namespace Hotplug;

/// <summary>
/// Device-event callbacks (DPDK's rte_dev_event_callback_register) and async readers. Callbacks run on
/// the event thread, one at a time, in registration order. A callback may unregister itself or detach
/// its device (<see cref="Eal.HotplugRemove(string, string)"/>) from inside: nothing is locked while callbacks run.
/// </summary>
public sealed class DeviceEventDispatcher
{
    private readonly EventLoop _loop;
    private readonly ILogger _logger;
    private readonly HotplugMetrics _metrics;
    private readonly Lock _lock = new();
    private Subscription[] _subscriptions = [];
    private Action[] _watchers = [];
    private Lock? _gate;
    private Func<string?, long, IReadOnlyList<DeviceEvent>>? _present;
    private long _sequence;
    private long _callbackFailures;
    private bool _completed;

    internal DeviceEventDispatcher(EventLoop loop, HotplugMetrics metrics, ILogger logger)
    {
        _loop = loop;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Callbacks that threw (each was logged).</summary>
    public long CallbackFailures => Interlocked.Read(ref _callbackFailures);

    /// <summary>
    /// Calls <paramref name="callback"/> for events of the device <paramref name="deviceName"/>, or of every
    /// device when it is null. Dispose the result to unregister (safe from inside the callback).
    /// </summary>
    /// <param name="deviceName">The device, or null for all.</param>
    /// <param name="callback">Runs on the event thread.</param>
    /// <param name="reportPresent">
    /// True to get an ADD (source <see cref="DeviceEventSource.Present"/>, with the attachment's generation if it is
    /// attached) for every matching device the buses know now, before any later event: the list and the subscription
    /// are taken at one instant, so nothing falls between enumerating and subscribing. Devices removed but not yet
    /// detached are not reported.
    /// </param>
    /// <exception cref="InvalidOperationException">The same callback is registered for the same name already.</exception>
    /// <exception cref="ObjectDisposedException">The <see cref="Eal"/> has been disposed.</exception>
    public IDisposable Register(string? deviceName, Action<DeviceEvent> callback, bool reportPresent = false)
    {
        ArgumentNullException.ThrowIfNull(callback);
        using var scope = EnterGate(reportPresent);
        Subscription s;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_completed, typeof(Eal));
            if (_subscriptions.Any(x => x.Callback == callback && x.DeviceName == deviceName))
                throw new InvalidOperationException($"This callback is registered for {deviceName ?? "all devices"} already.");
            // A subscription that reports what is present skips events published before it (they are in its list).
            s = new Subscription(this, deviceName, callback, null, reportPresent ? Volatile.Read(ref _sequence) + 1 : 0);
            _subscriptions = [.. _subscriptions, s];
        }
        if (reportPresent)
        {
            foreach (var e in Present(deviceName))
                _loop.Post(new PendingDispatch(this, e, long.MaxValue, s).Run); // for it alone, past its first sequence
        }
        return s;
    }

    /// <summary>
    /// The events of <paramref name="deviceName"/> (or of all devices) from now on, as an async stream.
    /// The subscription starts with this call, not with the first MoveNextAsync. The stream completes when the
    /// <see cref="Eal"/> is disposed (at once, if it has been already).
    /// </summary>
    public IAsyncEnumerable<DeviceEvent> ReadAllAsync(string? deviceName = null, CancellationToken cancellationToken = default) =>
        ReadAllAsync(deviceName, reportPresent: false, cancellationToken);

    /// <summary>
    /// As <see cref="ReadAllAsync(string?, CancellationToken)"/>; with <paramref name="reportPresent"/>, the stream
    /// starts with an ADD (source <see cref="DeviceEventSource.Present"/>) for every matching device present now,
    /// taken at the same instant as the subscription (see <see cref="Register"/>).
    /// </summary>
    public IAsyncEnumerable<DeviceEvent> ReadAllAsync(string? deviceName, bool reportPresent, CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateUnbounded<DeviceEvent>(new UnboundedChannelOptions { SingleReader = true });
        Subscription s;
        using (EnterGate(reportPresent))
        {
            bool completed;
            lock (_lock)
            {
                s = new Subscription(this, deviceName, null, channel, 0);
                completed = _completed;
                if (completed)
                    channel.Writer.TryComplete();
                else
                    _subscriptions = [.. _subscriptions, s];
            }
            if (reportPresent && !completed)
            {
                foreach (var e in Present(deviceName))
                    channel.Writer.TryWrite(e);
            }
        }
        return Read(channel, s, cancellationToken);
    }

    /// <summary>Set by the Eal: the lock every publish is made under, and the devices present now.</summary>
    internal void Bind(Lock gate, Func<string?, long, IReadOnlyList<DeviceEvent>> present)
    {
        _gate = gate;
        _present = present;
    }

    /// <summary>Calls <paramref name="wake"/> (under the gate; it must only signal) on every publish, attachment and completion.</summary>
    internal IDisposable Watch(Action wake)
    {
        lock (_lock)
            _watchers = [.. _watchers, wake];
        return new Unwatch(this, wake);
    }

    /// <summary>Wakes the watchers (a device is being attached, or the Eal is going).</summary>
    internal void Wake()
    {
        foreach (var w in Volatile.Read(ref _watchers))
            w();
    }

    private GateScope EnterGate(bool needed)
    {
        var gate = needed ? _gate : null;
        gate?.Enter();
        return new GateScope(gate);
    }

    private readonly struct GateScope(Lock? gate) : IDisposable
    {
        public void Dispose() => gate?.Exit();
    }

    private IReadOnlyList<DeviceEvent> Present(string? deviceName) => _present?.Invoke(deviceName, BusHost.MonotonicNs()) ?? [];

    private static async IAsyncEnumerable<DeviceEvent> Read(Channel<DeviceEvent> channel, Subscription s,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var e in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return e;
        }
        finally
        {
            s.Dispose();
        }
    }

    /// <summary>Queues the event: readers get it now, callbacks on the event thread after the current work.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    internal void Publish(DeviceEvent e)
    {
        long sequence = Interlocked.Increment(ref _sequence);
        var subs = Volatile.Read(ref _subscriptions);
        foreach (var s in subs)
        {
            if (s.Channel is not null && s.Matches(e))
                s.Channel.Writer.TryWrite(e);
        }
        var watchers = Volatile.Read(ref _watchers);
        if (watchers.Length != 0)
            Wake();
        _loop.Post(new PendingDispatch(this, e, sequence, null).Run);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    private void Dispatch(DeviceEvent e, long sequence, Subscription? only)
    {
        bool first = true;
        foreach (var s in Volatile.Read(ref _subscriptions))
        {
            if (s.Callback is null || !s.Active || !s.Matches(e) || (only is not null && s != only) || sequence < s.FirstSequence)
                continue;
            if (first)
            {
                first = false;
                _metrics.CallbacksStarting(e);
            }
            try
            {
                s.Callback(e);
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _callbackFailures);
                _metrics.CallbackFailed();
                _logger.LogError(ex, "A device-event callback threw on {Event}; the other callbacks still run", e);
            }
        }
        if (only is null)
            RemovalPathLog.DeviceEvent(_logger, e.Type, e.BusName, e.DeviceName, e.Source); // after the app heard: never before
    }

    /// <summary>Ends every reader (on Eal dispose).</summary>
    internal void Complete()
    {
        lock (_lock)
            _completed = true;
        foreach (var s in Volatile.Read(ref _subscriptions))
            s.Channel?.Writer.TryComplete();
        Wake();
    }

    private void Remove(Subscription s)
    {
        lock (_lock)
            _subscriptions = [.. _subscriptions.Where(x => x != s)];
        s.Channel?.Writer.TryComplete();
    }

    private sealed class Subscription(DeviceEventDispatcher owner, string? deviceName, Action<DeviceEvent>? callback,
        Channel<DeviceEvent>? channel, long firstSequence) : IDisposable
    {
        private int _disposed;
        public long FirstSequence { get; } = firstSequence;
        public string? DeviceName { get; } = deviceName;
        public Action<DeviceEvent>? Callback { get; } = callback;
        public Channel<DeviceEvent>? Channel { get; } = channel;
        public bool Active => Volatile.Read(ref _disposed) == 0;
        public bool Matches(DeviceEvent e) => DeviceName is null || DeviceName == e.DeviceName;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                owner.Remove(this);
        }
    }

    /// <summary>One published event waiting for the event thread (a named type, so the warm-up can compile it).</summary>
    internal sealed class PendingDispatch(DeviceEventDispatcher dispatcher, DeviceEvent e, long sequence, object? only)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
        public void Run() => dispatcher.Dispatch(e, sequence, (Subscription?)only);
    }

    private sealed class Unwatch(DeviceEventDispatcher owner, Action wake) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._lock)
                owner._watchers = [.. owner._watchers.Where(w => w != wake)];
        }
    }
}
