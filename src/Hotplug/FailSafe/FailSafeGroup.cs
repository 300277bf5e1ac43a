using Microsoft.Extensions.Logging;

namespace Hotplug.FailSafe;

/// <summary>
/// A fail-safe group of devices (DPDK's failsafe PMD, generic over devices): an ordered set of members, the
/// preferred first, one of them active at a time. Each member is a device (bus, name) and a factory that turns
/// its attachment into the app's port; <see cref="Active"/> is the active member's port, read lock-free by the
/// data path. When the active member is removed the group switches to the best attached member inside the
/// REMOVE callback, then stops the old port and detaches the device; when a member of higher priority comes back
/// it switches back after <see cref="FailSafeOptions.SwitchBackSettle"/>.
/// </summary>
/// <remarks>
/// <para><b>The data path's guarantee.</b> <see cref="Active"/> is a volatile reference, changed before
/// <see cref="Switched"/> is raised. A read of <see cref="Active"/> made after the data path has observed a
/// <see cref="FailSafeSwitch"/> (a volatile flag set in the handler, say) never returns the port of a member
/// removed before that switch. A burst that read <see cref="Active"/> before the switch may still use the removed
/// member's port: between the moment the device went (its BARs became dead memory) and the REMOVE callback it
/// reads the dead value (all-ones or zero), and once the old port is stopped and detached it reads the dead value
/// or gets an <see cref="ObjectDisposedException"/> — never unmapped memory. Re-read <see cref="Active"/> at every
/// burst and treat a dead value as "no data".</para>
/// <para><b>Threads.</b> Device events, the switch-back and therefore the port factories, the stop actions and
/// <see cref="Switched"/> run on the <see cref="Eal"/>'s event thread (<see cref="Start"/>'s initial activation
/// runs on the caller's). The settle timer does not switch by itself: it posts the switch-back to the event
/// thread, so it is ordered with the device events — a REMOVE dispatched before it cancels it, a REMOVE after it
/// switches away again — and the app's callbacks never run on two threads at once. The group's lock only keeps
/// <see cref="Members"/>, <see cref="Start"/> and <see cref="Dispose"/> consistent with the event thread.</para>
/// </remarks>
/// <typeparam name="TPort">The app's object for one attached device (a queue pair, a port, a channel).</typeparam>
public sealed class FailSafeGroup<TPort> : IDisposable where TPort : class
{
    private readonly Eal _eal;
    private readonly FailSafeOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly List<Member> _members = [];
    private TPort? _active;
    private Member? _activeMember;
    private Member? _settling;
    private Timer? _settleTimer;
    private long _settleEpoch;
    private IDisposable? _subscription;
    private long _callbackFailures;
    private bool _everActive;
    private bool _started;
    private bool _disposed;

    /// <summary>Creates an empty group over <paramref name="eal"/>; add members, subscribe to <see cref="Switched"/>, then <see cref="Start"/>.</summary>
    public FailSafeGroup(Eal eal, FailSafeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(eal);
        _eal = eal;
        _options = options ?? new FailSafeOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.SwitchBackSettle, TimeSpan.Zero, nameof(options));
        _logger = eal.LoggerFactory.CreateLogger("Hotplug.FailSafe.FailSafeGroup");
    }

    /// <summary>
    /// Raised after every change of the active member, on the event thread (for <see cref="FailSafeSwitchReason.Initial"/>
    /// at <see cref="Start"/>, on its caller's thread). A handler that throws is logged and counted in
    /// <see cref="CallbackFailures"/>; the other handlers and the group go on.
    /// </summary>
    public event Action<FailSafeSwitch>? Switched;

    /// <summary>The active member's port, or null when no member is attached. Lock-free (a volatile read): read it at every burst.</summary>
    public TPort? Active => Volatile.Read(ref _active);

    /// <summary>The active member, or null.</summary>
    public FailSafeMemberStatus? ActiveMember
    {
        get { lock (_lock) return _activeMember?.Status(); }
    }

    /// <summary>Every member in priority order (preferred first), with its state now.</summary>
    public IReadOnlyList<FailSafeMemberStatus> Members
    {
        get { lock (_lock) return [.. _members.Select(m => m.Status())]; }
    }

    /// <summary>Port factories, stop actions and <see cref="Switched"/> handlers that threw (each was logged).</summary>
    public long CallbackFailures => Interlocked.Read(ref _callbackFailures);

    /// <summary>
    /// Adds a member, after those added before (lower priority). <paramref name="open"/> makes the app's port from the
    /// attached device (called when the group first sees the attachment, so a standby is ready before it is needed);
    /// <paramref name="close"/>, if given, stops a port (after a removal, once the group no longer hands it out, and at dispose).
    /// </summary>
    /// <exception cref="BusNotFoundException">No such bus.</exception>
    /// <exception cref="ArgumentException">The name is not valid on the bus, or the device is a member already.</exception>
    /// <exception cref="InvalidOperationException">The group has been started.</exception>
    public FailSafeGroup<TPort> AddMember(string busName, string deviceName, Func<Device, TPort> open, Action<TPort>? close = null)
    {
        ArgumentNullException.ThrowIfNull(busName);
        ArgumentNullException.ThrowIfNull(deviceName);
        ArgumentNullException.ThrowIfNull(open);
        var bus = _eal.Buses.Get(busName);
        if (!bus.TryParseDeviceName(deviceName, out string? name, out string? error))
            throw new ArgumentException($"'{deviceName}' is not a device name on bus {busName}: {error}", nameof(deviceName));
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started)
                throw new InvalidOperationException("Members are added before Start.");
            if (_members.Any(m => m.BusName == bus.Name && m.DeviceName == name))
                throw new ArgumentException($"{bus.Name}:{name} is a member already.", nameof(deviceName));
            _members.Add(new Member(bus.Name, name, _members.Count, open, close));
        }
        return this;
    }

    /// <summary>
    /// Subscribes to the device events, adopts the members attached now (with <see cref="FailSafeOptions.AttachOnBound"/>,
    /// attaches those present first) and makes the best one active (<see cref="FailSafeSwitchReason.Initial"/>).
    /// With none attached, <see cref="Active"/> stays null until one is.
    /// </summary>
    /// <exception cref="InvalidOperationException">Started already, or no member.</exception>
    public void Start()
    {
        List<FailSafeSwitch>? notes = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started || _members.Count == 0)
                throw new InvalidOperationException(_started ? "The group is started already." : "The group has no member.");
            _started = true;
            _subscription = _eal.DeviceEvents.Register(null, OnDeviceEvent);
            foreach (var m in _members)
            {
                if (_options.AttachOnBound)
                    TryAttach(m);
                Adopt(m, ref notes);
            }
            if (Best() is { } best)
                Activate(best, FailSafeSwitchReason.Initial, 0, ref notes);
        }
        Raise(notes);
    }

    private void OnDeviceEvent(DeviceEvent e)
    {
        List<FailSafeSwitch>? notes = null;
        lock (_lock)
        {
            if (_disposed || Find(e.BusName, e.DeviceName) is not { } m)
                return;
            if (e.Type == DeviceEventType.Remove)
            {
                if (m.Generation != 0 && m.Generation == e.Generation)
                    Retire(m, e.TimestampNs, ref notes);
                try
                {
                    _eal.HotplugRemove(e); // this life only: a stale REMOVE detaches nothing
                }
                catch (Exception ex) when (ex is HotplugException or ObjectDisposedException)
                {
                    _logger.LogWarning("Detaching {Device} after its removal failed: {Error}", m.Id, ex.Message);
                }
            }
            else
            {
                if (e.Type == DeviceEventType.Bound && _options.AttachOnBound)
                    TryAttach(m);
                if (Adopt(m, ref notes))
                    OnReturned(m, ref notes);
            }
        }
        Raise(notes);
    }

    /// <summary>The member is gone: take it out of service (switching away if it was active), then stop its port.</summary>
    private void Retire(Member m, long causeNs, ref List<FailSafeSwitch>? notes)
    {
        var port = m.Port;
        bool wasActive = m == _activeMember;
        m.Port = null;
        m.Generation = 0;
        m.State = FailSafeMemberState.Detached;
        if (_settling == m)
            CancelSettle();
        if (wasActive)
        {
            if (Best() is { } next)
            {
                CancelSettle(); // the best attached member takes over now: nothing better is waiting
                Activate(next, FailSafeSwitchReason.ActiveRemoved, causeNs, ref notes);
            }
            else
            {
                Volatile.Write(ref _active, null);
                _activeMember = null;
                _logger.LogWarning("{Device} was removed and no member is left", m.Id);
                (notes ??= []).Add(new FailSafeSwitch(m.Id, null, FailSafeSwitchReason.NoneLeft, DateTimeOffset.UtcNow, causeNs));
            }
        }
        if (port is not null && m.Close is { } close)
            Guard(() => close(port), "stop action", m);
    }

    /// <summary>Opens a port for the member's attachment if the group holds none for it. True if it did.</summary>
    private bool Adopt(Member m, ref List<FailSafeSwitch>? notes)
    {
        var device = _eal.Buses.Find(m.BusName)?.FindDevice(m.DeviceName);
        if (device is not { Driver: not null, State: DeviceState.Probed } || device.Generation == m.Generation)
            return false;
        if (m.Generation != 0)
        {
            _logger.LogWarning("{Device} was attached again without the group seeing its removal; retiring the old port", m.Id);
            Retire(m, 0, ref notes);
        }
        TPort? port = null;
        Guard(() => port = m.Open(device), "port factory", m);
        if (port is null)
            return false;
        m.Port = port;
        m.Generation = device.Generation;
        m.State = FailSafeMemberState.Standby;
        _logger.LogInformation("{Device} is in the group (generation {Generation})", m.Id, m.Generation);
        return true;
    }

    /// <summary>A member has a port again: active at once if none is, else a switch-back after the settle time if it is better.</summary>
    private void OnReturned(Member m, ref List<FailSafeSwitch>? notes)
    {
        if (_activeMember is null)
        {
            Activate(m, _everActive ? FailSafeSwitchReason.Recovered : FailSafeSwitchReason.Initial, 0, ref notes);
            return;
        }
        if (m.Priority >= _activeMember.Priority || (_settling is not null && _settling.Priority <= m.Priority))
            return;
        CancelSettle();
        if (_options.SwitchBackSettle == TimeSpan.Zero)
        {
            Activate(m, FailSafeSwitchReason.PreferredReturned, 0, ref notes);
            return;
        }
        m.State = FailSafeMemberState.Settling;
        _settling = m;
        long epoch = ++_settleEpoch;
        _settleTimer = new Timer(_ => _eal.TryPost(() => SettleElapsed(epoch)), null, _options.SwitchBackSettle, Timeout.InfiniteTimeSpan);
    }

    /// <summary>On the event thread: the settle time is over; switch back unless cancelled or the member is going.</summary>
    private void SettleElapsed(long epoch)
    {
        List<FailSafeSwitch>? notes = null;
        lock (_lock)
        {
            if (_disposed || epoch != _settleEpoch || _settling is not { State: FailSafeMemberState.Settling } m)
                return;
            CancelSettle();
            var device = _eal.Buses.Find(m.BusName)?.FindDevice(m.DeviceName);
            if (device is not { State: DeviceState.Probed } || device.Generation != m.Generation)
                return; // removed, its REMOVE still queued: it retires the member
            if (_activeMember is null || m.Priority < _activeMember.Priority)
                Activate(m, FailSafeSwitchReason.PreferredReturned, 0, ref notes);
        }
        Raise(notes);
    }

    private void CancelSettle()
    {
        _settleEpoch++;
        _settleTimer?.Dispose();
        _settleTimer = null;
        if (_settling is { State: FailSafeMemberState.Settling } s)
            s.State = FailSafeMemberState.Standby;
        _settling = null;
    }

    private void Activate(Member next, FailSafeSwitchReason reason, long causeNs, ref List<FailSafeSwitch>? notes)
    {
        var from = _activeMember;
        if (from is { State: FailSafeMemberState.Active })
            from.State = FailSafeMemberState.Standby;
        next.State = FailSafeMemberState.Active;
        _activeMember = next;
        _everActive = true;
        Volatile.Write(ref _active, next.Port); // the data path sees it at its next burst
        _logger.LogInformation("Fail-safe switch ({Reason}): {From} -> {To}", reason, from?.Id ?? "(none)", next.Id);
        (notes ??= []).Add(new FailSafeSwitch(from?.Id, next.Id, reason, DateTimeOffset.UtcNow, causeNs));
    }

    /// <summary>The attached member of highest priority that is not active, or null.</summary>
    private Member? Best() => _members.Find(m => m.Port is not null && m != _activeMember && m.State != FailSafeMemberState.Detached);

    private Member? Find(string bus, string name) => _members.Find(m => m.DeviceName == name && m.BusName == bus);

    private void TryAttach(Member m)
    {
        if (_eal.Buses.Find(m.BusName)?.FindDevice(m.DeviceName) is { Driver: not null })
            return;
        try
        {
            _eal.HotplugAdd(m.BusName, m.DeviceName);
        }
        catch (Exception ex) when (ex is HotplugException or ObjectDisposedException)
        {
            _logger.LogDebug("Attaching {Device} failed: {Error}", m.Id, ex.Message);
        }
    }

    private void Guard(Action action, string what, Member m)
    {
        try
        {
            action();
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _callbackFailures);
            _logger.LogError(ex, "The {What} of {Device} threw", what, m.Id);
        }
    }

    private void Raise(List<FailSafeSwitch>? notes)
    {
        if (notes is null || Switched is not { } handlers)
            return;
        foreach (var note in notes)
        {
            foreach (var h in handlers.GetInvocationList().Cast<Action<FailSafeSwitch>>())
            {
                try
                {
                    h(note);
                }
                catch (Exception ex)
                {
                    Interlocked.Increment(ref _callbackFailures);
                    _logger.LogError(ex, "A Switched handler threw on {Switch}", note);
                }
            }
        }
    }

    /// <summary>
    /// Unsubscribes from the device events, cancels a pending switch-back, sets <see cref="Active"/> to null and stops
    /// every open port. Devices stay attached (the <see cref="Eal"/> owns them). Stop the data path first.
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
            _subscription?.Dispose();
            CancelSettle();
            Volatile.Write(ref _active, null);
            _activeMember = null;
            foreach (var m in _members)
            {
                var port = m.Port;
                m.Port = null;
                m.Generation = 0;
                m.State = FailSafeMemberState.Detached;
                if (port is not null && m.Close is { } close)
                    Guard(() => close(port), "stop action", m);
            }
        }
    }

    private sealed class Member(string busName, string deviceName, int priority, Func<Device, TPort> open, Action<TPort>? close)
    {
        public string BusName { get; } = busName;
        public string DeviceName { get; } = deviceName;
        public int Priority { get; } = priority;
        public Func<Device, TPort> Open { get; } = open;
        public Action<TPort>? Close { get; } = close;
        public string Id => BusName + ":" + DeviceName;
        public TPort? Port { get; set; }
        public long Generation { get; set; }
        public FailSafeMemberState State { get; set; }
        public FailSafeMemberStatus Status() => new(BusName, DeviceName, Priority, State, Generation);
    }
}
