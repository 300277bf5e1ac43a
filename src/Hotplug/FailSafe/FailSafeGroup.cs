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
/// <para><b>Locks.</b> The group never takes the <see cref="Eal"/>'s lock while it holds its own: it attaches and
/// detaches members outside it, so a driver's <c>Probe</c> or <c>Remove</c> (which run under the Eal's lock) may
/// read the group. The port factory and the stop action run under the group's lock: they must not attach or
/// detach devices themselves (<c>HotplugAdd</c>, <c>HotplugRemove</c>, <c>Scan</c>).</para>
/// </remarks>
/// <typeparam name="TPort">The app's object for one attached device (a queue pair, a port, a channel).</typeparam>
public sealed partial class FailSafeGroup<TPort> : IDisposable where TPort : class
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
            _members.Add(new Member(bus, name, _members.Count, open, close));
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
        }
        // The Eal's gate is never taken under the group's lock (a driver callback that reads the group, under the
        // gate, would deadlock against the event thread): attach and detach first, adopt under the lock after.
        foreach (var m in _members)
        {
            DetachIfRemoved(m);
            if (_options.AttachOnBound)
                TryAttach(m);
        }
        lock (_lock)
        {
            if (_disposed)
                return;
            foreach (var m in _members)
                Adopt(m, ref notes);
            if (_activeMember is null && Best() is { } best)
                Activate(best, FailSafeSwitchReason.Initial, 0, ref notes);
        }
        Raise(notes);
    }

    private void OnDeviceEvent(DeviceEvent e)
    {
        List<FailSafeSwitch>? notes = null;
        Member? m;
        lock (_lock)
        {
            if (_disposed || (m = Find(e.BusName, e.DeviceName)) is null)
                return;
            if (e.Type == DeviceEventType.Remove && m.Generation != 0 && m.Generation == e.Generation)
                Retire(m, e.TimestampNs, ref notes); // the switch: the data path sees it at its next burst
        }
        Raise(notes);
        // Outside the group's lock: detaching and attaching take the Eal's gate (see Start).
        if (e.Type == DeviceEventType.Remove)
        {
            try
            {
                _eal.HotplugRemove(e); // this life only: a stale REMOVE detaches nothing
            }
            catch (Exception ex) when (ex is HotplugException or ObjectDisposedException)
            {
                _logger.LogWarning("Detaching {Device} after its removal failed: {Error}", m.Id, ex.Message);
            }
            return;
        }
        if (e.Type == DeviceEventType.Bound && _options.AttachOnBound)
        {
            DetachIfRemoved(m);
            TryAttach(m);
        }
        notes = null;
        lock (_lock)
        {
            if (_disposed)
                return;
            if (Adopt(m, ref notes))
                OnReturned(m, ref notes);
        }
        Raise(notes);
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
}
