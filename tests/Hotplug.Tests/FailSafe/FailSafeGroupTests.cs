using System.Diagnostics;
using Hotplug.FailSafe;
using static Hotplug.Tests.FailSafe.FailSafeRig;

namespace Hotplug.Tests.FailSafe;

/// <summary>A fail-safe group over two simulated devices: failover, switch-back, cancellation, none left, faulty callbacks, dispose.</summary>
public class FailSafeGroupTests(ITestOutputHelper output)
{
    [Fact]
    public void Start_makes_the_preferred_member_active_and_the_other_standby()
    {
        using var rig = new FailSafeRig(output);
        var s = rig.WaitSwitch();
        Assert.Equal((null, "pci:" + Primary, FailSafeSwitchReason.Initial), (s.From, s.To, s.Reason));
        Assert.Equal(Primary, rig.Group.Active!.Name);
        Assert.Equal(PrimaryValue, rig.Group.Active.Bar.Read32(0));
        Assert.Equal(Primary, rig.Group.ActiveMember!.DeviceName);
        Assert.Equal([FailSafeMemberState.Active, FailSafeMemberState.Standby], rig.Group.Members.Select(m => m.State));
    }

    /// <summary>
    /// The documented guarantee: a read of Active made after the data path has seen the switch never returns the
    /// removed member's port, so it never reads the dead value; before the switch it may (the race window).
    /// </summary>
    [Fact]
    public void Removing_the_primary_under_a_data_path_switches_to_the_standby_and_no_read_after_the_switch_is_dead()
    {
        using var rig = new FailSafeRig(output);
        rig.WaitSwitch();
        int switchSeen = 0;
        rig.Group.Switched += s => { if (s.Reason == FailSafeSwitchReason.ActiveRemoved) Volatile.Write(ref switchSeen, 1); };
        long reads = 0, deadBefore = 0, disposedBefore = 0, standbyAfter = 0, violations = 0;
        var stop = new ManualResetEventSlim();
        var dataPath = new Thread(() =>
        {
            while (!stop.IsSet)
            {
                bool after = Volatile.Read(ref switchSeen) != 0; // read before Active: the order the guarantee is about
                var port = rig.Group.Active;
                if (port is null)
                {
                    violations++;
                    continue;
                }
                uint v;
                try
                {
                    v = port.Bar.Read32(0);
                }
                catch (ObjectDisposedException)
                {
                    if (after)
                        violations++;
                    else
                        disposedBefore++;
                    continue;
                }
                Interlocked.Increment(ref reads);
                if (after && (port.Name != Standby || v != StandbyValue))
                    violations++;
                else if (after)
                    standbyAfter++;
                else if (v == 0xFFFFFFFF)
                    deadBefore++;
            }
        }) { IsBackground = true, Name = "data path" };
        dataPath.Start();
        Assert.True(SpinWait.SpinUntil(() => Interlocked.Read(ref reads) > 1000, Bounded));

        rig.Devices[Primary].Remove();
        var s = rig.WaitSwitch();
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref standbyAfter) > 1000, Bounded));
        stop.Set();
        dataPath.Join();

        output.WriteLine($"reads {reads}, dead before the switch {deadBefore}, disposed before {disposedBefore}, standby after {standbyAfter}");
        Assert.Equal(0, violations);
        Assert.Equal(("pci:" + Primary, "pci:" + Standby, FailSafeSwitchReason.ActiveRemoved), (s.From, s.To, s.Reason));
        Assert.True(s.CauseTimestampNs > 0);
        Assert.Equal(Standby, rig.Group.Active!.Name);
        rig.Settle();
        var old = rig.Opened.Single(p => p.Name == Primary);
        Assert.True(old.Stopped);
        Assert.Null(rig.Eal.Pci().Find(PciAddress.Parse(Primary))); // detached (and forgotten: it is gone)
        Assert.Equal(FailSafeMemberState.Detached, rig.Member(Primary).State);
        Assert.Equal(FailSafeMemberState.Active, rig.Member(Standby).State);
    }

    [Theory]
    [InlineData(true, false)] // the bus attaches it (PciBusOptions.AutoProbeOnAdd)
    [InlineData(false, true)] // the group attaches it on BOUND
    public void The_primary_coming_back_is_switched_back_to_after_the_settle_time(bool autoAttach, bool attachOnBound)
    {
        var settle = TimeSpan.FromMilliseconds(300);
        using var rig = new FailSafeRig(output, autoAttach, attachOnBound, settle);
        Assert.Equal(FailSafeSwitchReason.Initial, rig.WaitSwitch().Reason);
        rig.Devices[Primary].Remove();
        Assert.Equal(FailSafeSwitchReason.ActiveRemoved, rig.WaitSwitch().Reason);
        rig.Settle();

        var clock = Stopwatch.StartNew();
        rig.ReAdd(Primary);
        rig.Settle();
        Assert.Equal(FailSafeMemberState.Settling, rig.Member(Primary).State); // attached, not active yet
        Assert.Equal(Standby, rig.Group.Active!.Name);

        var back = rig.WaitSwitch();
        clock.Stop();
        Assert.Equal(("pci:" + Standby, "pci:" + Primary, FailSafeSwitchReason.PreferredReturned), (back.From, back.To, back.Reason));
        Assert.True(clock.Elapsed >= settle - TimeSpan.FromMilliseconds(20), $"switched back after {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(Primary, rig.Group.Active!.Name);
        Assert.Equal(PrimaryValue, rig.Group.Active.Bar.Read32(0));
        Assert.False(rig.Group.Active.Stopped);
        Assert.Equal(FailSafeMemberState.Standby, rig.Member(Standby).State); // kept open: ready for the next failover
        Assert.False(rig.Opened.Single(p => p.Name == Standby).Stopped);
    }

    [Fact]
    public void Without_auto_attach_or_AttachOnBound_a_returning_member_is_left_alone()
    {
        using var rig = new FailSafeRig(output, settle: TimeSpan.Zero);
        rig.WaitSwitch();
        rig.Devices[Primary].Remove();
        rig.WaitSwitch();
        rig.ReAdd(Primary);
        rig.Settle();
        Assert.Equal(FailSafeMemberState.Detached, rig.Member(Primary).State);
        Assert.Equal(Standby, rig.Group.Active!.Name);
    }

    [Fact]
    public void A_removal_during_the_settle_time_cancels_the_switch_back()
    {
        var settle = TimeSpan.FromMilliseconds(400);
        using var rig = new FailSafeRig(output, autoAttach: true, settle: settle);
        rig.WaitSwitch();
        rig.Devices[Primary].Remove();
        rig.WaitSwitch();
        rig.Settle();
        rig.ReAdd(Primary);
        rig.Settle();
        Assert.Equal(FailSafeMemberState.Settling, rig.Member(Primary).State);

        rig.Devices[Primary].Remove(); // flaps before the settle time is over
        rig.WaitMemberState(Primary, FailSafeMemberState.Detached);
        Thread.Sleep(settle * 2); // test only: long enough for a switch-back that was not cancelled
        rig.Settle();

        Assert.DoesNotContain(rig.SwitchesSnapshot(), s => s.Reason == FailSafeSwitchReason.PreferredReturned);
        Assert.Equal(Standby, rig.Group.Active!.Name);
        Assert.Equal(FailSafeMemberState.Active, rig.Member(Standby).State);
        Assert.Null(rig.Eal.Pci().Find(PciAddress.Parse(Primary))); // the second life was detached too
        Assert.All(rig.Opened.Where(p => p.Name == Primary), p => Assert.True(p.Stopped));
    }

    [Fact]
    public void Both_removed_is_NoneLeft_with_a_null_Active_and_the_first_to_return_is_active_at_once()
    {
        using var rig = new FailSafeRig(output, autoAttach: true, settle: TimeSpan.FromSeconds(30));
        rig.WaitSwitch();
        rig.Devices[Primary].Remove();
        Assert.Equal(FailSafeSwitchReason.ActiveRemoved, rig.WaitSwitch().Reason);
        rig.Devices[Standby].Remove();
        var none = rig.WaitSwitch();

        Assert.Equal(("pci:" + Standby, (string?)null, FailSafeSwitchReason.NoneLeft), (none.From, none.To, none.Reason));
        Assert.Null(rig.Group.Active);
        Assert.Null(rig.Group.ActiveMember);
        Assert.All(rig.Group.Members, m => Assert.Equal(FailSafeMemberState.Detached, m.State));

        rig.Settle();
        rig.ReAdd(Standby); // the lower-priority one first: no settle time when nothing runs
        var back = rig.WaitSwitch();
        Assert.Equal(((string?)null, "pci:" + Standby, FailSafeSwitchReason.Recovered), (back.From, back.To, back.Reason));
        Assert.Equal(StandbyValue, rig.Group.Active!.Bar.Read32(0));
    }

    [Fact]
    public void Callbacks_that_throw_do_not_break_the_group()
    {
        using var rig = new FailSafeRig(output, start: false);
        rig.Group.Switched += _ => throw new InvalidOperationException("app bug in a Switched handler");
        var group = rig.Group;
        group.Start();
        Assert.Equal(FailSafeSwitchReason.Initial, rig.WaitSwitch().Reason); // the rig's handler still ran
        Assert.Equal(1, group.CallbackFailures);

        rig.Devices[Primary].Remove();
        Assert.Equal(FailSafeSwitchReason.ActiveRemoved, rig.WaitSwitch().Reason);
        Assert.Equal(Standby, group.Active!.Name);
        Assert.Equal(2, group.CallbackFailures);
    }

    [Fact]
    public void A_port_factory_or_stop_action_that_throws_leaves_its_member_out_and_the_group_working()
    {
        using var rig = new FailSafeRig(output, open: d => d.Name == Standby ? throw new IOException("standby port failed") : new TestPort(d));
        Assert.Equal(FailSafeSwitchReason.Initial, rig.WaitSwitch().Reason);
        Assert.Equal(FailSafeMemberState.Detached, rig.Member(Standby).State);
        Assert.Equal(1, rig.Group.CallbackFailures);

        rig.Devices[Primary].Remove();
        var s = rig.WaitSwitch();
        Assert.Equal(FailSafeSwitchReason.NoneLeft, s.Reason);
        Assert.Null(rig.Group.Active);
    }

    [Fact]
    public void Dispose_unsubscribes_stops_the_ports_and_leaves_the_devices_to_the_eal()
    {
        using var rig = new FailSafeRig(output);
        rig.WaitSwitch();
        rig.Group.Dispose();

        Assert.Null(rig.Group.Active);
        Assert.All(rig.Opened, p => Assert.True(p.Stopped));
        rig.Devices[Primary].Remove();
        rig.Settle();
        rig.Settle();

        Assert.Single(rig.SwitchesSnapshot()); // only the initial one
        var primary = rig.Eal.Pci().Find(PciAddress.Parse(Primary))!;
        Assert.Equal(DeviceState.Removed, primary.State); // the group did not detach it: it no longer listens
        Assert.NotNull(primary.Driver);
        Assert.Throws<ObjectDisposedException>(() => rig.Group.Start());
        rig.Group.Dispose(); // twice is fine
    }
}
