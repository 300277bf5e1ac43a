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
    /// <exception cref="InvalidOperationException">The same callback is registered for the same name already.</exception>
    /// <exception cref="ObjectDisposedException">The <see cref="Eal"/> has been disposed.</exception>
    public IDisposable Register(string? deviceName, Action<DeviceEvent> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_completed, typeof(Eal));
            if (_subscriptions.Any(s => s.Callback == callback && s.DeviceName == deviceName))
                throw new InvalidOperationException($"This callback is registered for {deviceName ?? "all devices"} already.");
            var s = new Subscription(this, deviceName, callback, null);
            _subscriptions = [.. _subscriptions, s];
            return s;
        }
    }

    /// <summary>
    /// The events of <paramref name="deviceName"/> (or of all devices) from now on, as an async stream.
    /// The subscription starts with this call, not with the first MoveNextAsync. The stream completes when the
    /// <see cref="Eal"/> is disposed (at once, if it has been already).
    /// </summary>
    public IAsyncEnumerable<DeviceEvent> ReadAllAsync(string? deviceName = null, CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateUnbounded<DeviceEvent>(new UnboundedChannelOptions { SingleReader = true });
        Subscription s;
        lock (_lock)
        {
            s = new Subscription(this, deviceName, null, channel);
            if (_completed)
                channel.Writer.TryComplete();
            else
                _subscriptions = [.. _subscriptions, s];
        }
        return Read(channel, s, cancellationToken);
    }

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
        var subs = Volatile.Read(ref _subscriptions);
        foreach (var s in subs)
        {
            if (s.Channel is not null && s.Matches(e))
                s.Channel.Writer.TryWrite(e);
        }
        _loop.Post(new PendingDispatch(this, e).Run);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    private void Dispatch(DeviceEvent e)
    {
        bool first = true;
        foreach (var s in Volatile.Read(ref _subscriptions))
        {
            if (s.Callback is null || !s.Active || !s.Matches(e))
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
    }

    /// <summary>Ends every reader (on Eal dispose).</summary>
    internal void Complete()
    {
        lock (_lock)
            _completed = true;
        foreach (var s in Volatile.Read(ref _subscriptions))
            s.Channel?.Writer.TryComplete();
    }

    private void Remove(Subscription s)
    {
        lock (_lock)
            _subscriptions = [.. _subscriptions.Where(x => x != s)];
        s.Channel?.Writer.TryComplete();
    }

    private sealed class Subscription(DeviceEventDispatcher owner, string? deviceName, Action<DeviceEvent>? callback,
        Channel<DeviceEvent>? channel) : IDisposable
    {
        private int _disposed;
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
    internal sealed class PendingDispatch(DeviceEventDispatcher dispatcher, DeviceEvent e)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
        public void Run() => dispatcher.Dispatch(e);
    }
}
