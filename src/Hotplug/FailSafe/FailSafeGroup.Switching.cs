using Microsoft.Extensions.Logging;

namespace Hotplug.FailSafe;

/// <summary>How a <see cref="FailSafeGroup{TPort}"/> takes members out of service, adopts them back and switches.</summary>
public sealed partial class FailSafeGroup<TPort>
{
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
        var device = m.Bus.FindDevice(m.DeviceName);
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
            var device = m.Bus.FindDevice(m.DeviceName);
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
        if (m.Bus.FindDevice(m.DeviceName) is { Driver: not null })
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

    /// <summary>
    /// A member still attached to a life that was removed before the group saw it (removed before <see cref="Start"/>,
    /// its REMOVE published to nobody): detach it, so that its return can be attached and taken over.
    /// </summary>
    private void DetachIfRemoved(Member m)
    {
        if (m.Bus.FindDevice(m.DeviceName) is not { State: DeviceState.Removed or DeviceState.Fault, Driver: not null } device)
            return;
        lock (_lock)
        {
            if (m.Generation == device.Generation)
                return; // the group holds it: its REMOVE (queued) retires and detaches it
        }
        try
        {
            _eal.HotplugRemove(m.BusName, m.DeviceName);
            _logger.LogInformation("{Device} was removed before the group saw it; detached", m.Id);
        }
        catch (Exception ex) when (ex is HotplugException or ObjectDisposedException)
        {
            _logger.LogDebug("Detaching {Device} failed: {Error}", m.Id, ex.Message);
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

    /// <summary>A member; its bus is resolved once, at AddMember (the registry's lookup takes the Eal's gate).</summary>
    private sealed class Member(IBus bus, string deviceName, int priority, Func<Device, TPort> open, Action<TPort>? close)
    {
        public IBus Bus { get; } = bus;
        public string BusName { get; } = bus.Name;
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
