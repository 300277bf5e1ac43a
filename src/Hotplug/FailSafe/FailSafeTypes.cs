namespace Hotplug.FailSafe;

/// <summary>How a <see cref="FailSafeGroup{TPort}"/> attaches its members and switches back.</summary>
public sealed class FailSafeOptions
{
    /// <summary>
    /// How long a higher-priority member must stay attached after it comes back before the group switches back
    /// to it (500 ms by default; <see cref="TimeSpan.Zero"/> switches back at once). A removal of that member
    /// during the wait cancels the switch-back (a flapping link never becomes active).
    /// </summary>
    public TimeSpan SwitchBackSettle { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// True: the group attaches its members itself: at <see cref="FailSafeGroup{TPort}.Start"/> those present but
    /// not attached, and later on their BOUND event (<c>eal.HotplugAdd</c>). False (the default): attaching is
    /// left to the app or to the bus's auto-attach (for PCI, <c>PciBusOptions.AutoProbeOnAdd</c> with an allow
    /// list); the group adopts a member when it sees it attached (at start, on its ADD or BOUND event).
    /// </summary>
    public bool AttachOnBound { get; init; }
}

/// <summary>Why a <see cref="FailSafeGroup{TPort}"/> changed its active member.</summary>
public enum FailSafeSwitchReason
{
    /// <summary>The first member made active, at <see cref="FailSafeGroup{TPort}.Start"/>.</summary>
    Initial,
    /// <summary>The active member was removed; the best attached member took over at once.</summary>
    ActiveRemoved,
    /// <summary>A member of higher priority than the active one came back and stayed attached for the settle time.</summary>
    PreferredReturned,
    /// <summary>No member was active (none was attached) and one came back: it was made active at once.</summary>
    Recovered,
    /// <summary>The active member was removed and no other member is attached: <see cref="FailSafeGroup{TPort}.Active"/> is null.</summary>
    NoneLeft,
}

/// <summary>Where a member of a <see cref="FailSafeGroup{TPort}"/> is.</summary>
public enum FailSafeMemberState
{
    /// <summary>Not attached (absent, not bound yet, removed, or its port factory failed).</summary>
    Detached,
    /// <summary>Attached and its port opened; ready to take over.</summary>
    Standby,
    /// <summary>Attached, of higher priority than the active member, waiting out the settle time before the switch-back.</summary>
    Settling,
    /// <summary>The member whose port <see cref="FailSafeGroup{TPort}.Active"/> returns.</summary>
    Active,
}

/// <summary>One change of the active member, raised after <see cref="FailSafeGroup{TPort}.Active"/> has changed.</summary>
/// <param name="From">The member that was active (<c>bus:name</c>), or null.</param>
/// <param name="To">The member active now, or null (<see cref="FailSafeSwitchReason.NoneLeft"/>).</param>
/// <param name="Reason">Why.</param>
/// <param name="Timestamp">When the switch was made (wall clock).</param>
/// <param name="CauseTimestampNs">For <see cref="FailSafeSwitchReason.ActiveRemoved"/> and <see cref="FailSafeSwitchReason.NoneLeft"/>,
/// the REMOVE's CLOCK_MONOTONIC timestamp (the signal that reported it); 0 otherwise.</param>
public sealed record FailSafeSwitch(string? From, string? To, FailSafeSwitchReason Reason, DateTimeOffset Timestamp, long CauseTimestampNs = 0)
{
    /// <inheritdoc />
    public override string ToString() => $"{Reason}: {From ?? "(none)"} -> {To ?? "(none)"}";
}

/// <summary>A snapshot of one member of a <see cref="FailSafeGroup{TPort}"/>.</summary>
/// <param name="BusName">The member's bus.</param>
/// <param name="DeviceName">The member's device name on its bus (canonical spelling).</param>
/// <param name="Priority">Its place in the group: 0 is the preferred member.</param>
/// <param name="State">Where it is.</param>
/// <param name="Generation">The attachment the group holds a port for (<see cref="Device.Generation"/>), or 0.</param>
public sealed record FailSafeMemberStatus(string BusName, string DeviceName, int Priority, FailSafeMemberState State, long Generation)
{
    /// <summary><c>bus:name</c>, as in <see cref="FailSafeSwitch"/>.</summary>
    public string Id => BusName + ":" + DeviceName;
}
