using Hotplug.FailSafe;
using static Hotplug.Tests.FailSafe.FailSafeRig;

namespace Hotplug.Tests.FailSafe;

/// <summary>The group and the Eal's lock: no lock-order deadlock, and a member whose removal the group never saw.</summary>
public sealed class FailSafeLockTests(ITestOutputHelper output)
{
    private const string Third = "0000:03:00.0";

    [Fact]
    public void A_driver_probe_that_reads_the_group_under_the_eal_lock_does_not_deadlock_against_a_switch()
    {
        using var rig = new FailSafeRig(output);
        var probeEntered = new ManualResetEventSlim();
        var stopCalled = new ManualResetEventSlim();
        // The event thread, switching away from the removed primary, is in the stop action (under the group's
        // lock) while the app attaches another device whose Probe (under the Eal's lock) reads the group.
        rig.OnStop = () =>
        {
            stopCalled.Set();
            probeEntered.Wait(Bounded);
        };
        int membersSeen = 0;
        rig.Driver.OnProbe = d =>
        {
            if (d.Name == Third)
            {
                probeEntered.Set();
                membersSeen = rig.Group.Members.Count;
            }
            return true;
        };
        rig.Sim.AddDevice(Third, 0x1234, 0x11e8, [1UL << 16]);
        rig.Eal.Scan();

        rig.Devices[Primary].Remove();
        rig.Eal.InjectUevent(PciUevent("remove", Primary));
        Assert.True(stopCalled.Wait(Bounded), "the switch never stopped the primary's port");
        var add = new Thread(() => rig.Eal.HotplugAdd("pci", Third)) { IsBackground = true }; // a deadlock must not hold the run
        add.Start();

        Assert.True(add.Join(Bounded), "HotplugAdd did not return: the driver's Probe and the group's switch deadlocked");
        Assert.Equal(2, membersSeen);
        Assert.Equal(FailSafeSwitchReason.ActiveRemoved, rig.WaitSwitch().Reason);
        rig.Settle();
        Assert.Null(rig.Eal.Pci().FindDevice(Primary)); // and the removed primary was detached after all
    }

    [Fact]
    public void A_member_removed_before_Start_is_detached_at_Start_and_taken_back_when_it_returns()
    {
        using var rig = new FailSafeRig(output, attachOnBound: true, start: false, settle: TimeSpan.FromMilliseconds(50));
        rig.Eal.HotplugAdd("pci", Primary);
        rig.Eal.HotplugAdd("pci", Standby);
        rig.Devices[Primary].Remove();
        rig.Eal.InjectUevent(PciUevent("remove", Primary)); // published to nobody: the group is not started
        rig.Settle();
        Assert.Equal(DeviceState.Removed, rig.Eal.Pci().FindDevice(Primary)!.State);

        rig.Group.Start();
        var first = rig.WaitSwitch();
        Assert.Equal(FailSafeSwitchReason.Initial, first.Reason);
        Assert.Equal("pci:" + Standby, first.To);
        Assert.Null(rig.Eal.Pci().FindDevice(Primary)); // the dead life is let go of

        rig.ReAdd(Primary);
        var back = rig.WaitSwitch();
        Assert.Equal(FailSafeSwitchReason.PreferredReturned, back.Reason);
        Assert.Equal("pci:" + Primary, back.To);
        Assert.Equal(FailSafeMemberState.Active, rig.Member(Primary).State);
    }
}
