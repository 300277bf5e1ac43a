using Hotplug;
using Hotplug.E1000;
using Hotplug.FailSafe;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>failsafe PRIMARY STANDBY SECONDS [mbb] [settle=MS]</c> (issue 14 item 3): a <see cref="FailSafeGroup{TPort}"/> over two e1000 ports
/// (Hotplug.E1000) on a QEMU hub, receiving hpsend's sequence-numbered frames on <see cref="FailSafeGroup{TPort}.Active"/>
/// for SECONDS (or until <see cref="StopFile"/> exists) while the host does device_del of the primary and later device_add (the guest binds it again; the group
/// attaches it on BOUND and switches back after the settle time). Reports: <c>rx-start</c>; <c>fs-switch</c> per change
/// of the active port; <c>event</c> per device event; at the end the counter's lines (<see cref="SequenceCounter"/>, the
/// same as the peer's) and <c>fs-summary</c>: the switches' times, the loss before and after the primary's return, the
/// longest time without a new frame after each switch, the frames of each port, and the dead-device check — a burst
/// issued on a port after the group retired it (its REMOVE) must return nothing ("dead_reads" counts what such bursts
/// returned; "late_bursts" how many there were). <c>mbb</c>: make-before-break at a switch-back (<see cref="FailSafeReceiver"/>); <c>settle=MS</c>: the group's
/// switch-back settle time (default 500 ms). QEMU's e1000 takes no frame for 1 s (virtual time) after every RCTL write
/// (its flush-queue timer), so a port attached less than 1 s before the switch-back delivers nothing at first.
/// </summary>
internal static class FailSafeScenario
{
    /// <summary>The receive loop also ends when this file exists (the Vm test stops it once it has seen what it needs).</summary>
    public const string StopFile = "/tmp/fs-stop";

    /// <summary>How long a port's factory waits for its link before handing it to the group anyway.</summary>
    public static readonly TimeSpan LinkTimeout = TimeSpan.FromSeconds(3);

    public static int Run(string primary, string standby, double seconds, IReadOnlyList<string> flags)
    {
        bool makeBeforeBreak = flags.Contains("mbb");
        var settle = flags.Where(f => f.StartsWith("settle=", StringComparison.Ordinal))
            .Select(f => TimeSpan.FromMilliseconds(int.Parse(f["settle=".Length..], System.Globalization.CultureInfo.InvariantCulture)))
            .DefaultIfEmpty(new FailSafeOptions().SwitchBackSettle).Last();
        var driver = new E1000Driver();
        using var eal = PciEal.Create(new PciBusOptions { AllowList = [primary, standby] });
        var pci = eal.Pci();
        pci.RegisterDriver(driver);
        eal.EnableHotplugHandling();
        eal.StartDeviceEventMonitor();
        double primaryBackMs = 0;
        bool primaryGone = false;
        using var events = eal.DeviceEvents.Register(null, e =>
        {
            Report.Event(e);
            if (e.DeviceName != primary)
                return;
            if (e.Type == DeviceEventType.Remove)
                primaryGone = true;
            else if (primaryGone && primaryBackMs == 0 && e.Type is DeviceEventType.Add or DeviceEventType.Bound)
                primaryBackMs = e.TimestampNs / 1e6;
        });
        eal.Scan();

        var opened = new List<FailSafeNic>();
        var switches = new List<(FailSafeSwitch Switch, double Ms)>();
        using var group = new FailSafeGroup<FailSafeNic>(eal, new FailSafeOptions { AttachOnBound = true, SwitchBackSettle = settle });
        foreach (var (bdf, index) in new[] { (primary, 0), (standby, 1) })
            group.AddMember("pci", bdf, dev =>
            {
                var port = E1000Port.Attach((PciDevice)dev, pci.DmaFor((PciDevice)dev));
                // A port is ready when its link is up: QEMU's e1000 brings it up ~500 ms after the reset, and until
                // then it takes no frame. Waiting here (on the event thread) starts the settle time at link-up.
                double linkFrom = Report.NowMs();
                bool up = port.WaitForLink(LinkTimeout);
                double linkMs = Report.NowMs() - linkFrom;
                var nic = new FailSafeNic(index, port);
                lock (opened)
                    opened.Add(nic);
                Report.Emit("fs-open", w =>
                {
                    w.WriteString("dev", bdf);
                    w.WriteNumber("generation", dev.Generation);
                    w.WriteString("mac", port.MacString);
                    w.WriteNumber("attach_ms", port.AttachTime.TotalMilliseconds);
                    w.WriteBoolean("link_up", up);
                    w.WriteNumber("link_wait_ms", linkMs);
                });
                return nic;
            }, nic => nic.Retire());
        group.Switched += s =>
        {
            double ms = Report.NowMs();
            lock (switches)
                switches.Add((s, ms));
            Report.Emit("fs-switch", w =>
            {
                w.WriteString("from", s.From ?? "");
                w.WriteString("to", s.To ?? "");
                w.WriteString("reason", s.Reason.ToString());
                w.WriteNumber("cause_ms", s.CauseTimestampNs / 1e6);
            });
        };
        group.Start();
        if (group.Active is null)
            return Fail("no member attached at start");

        var counter = new SequenceCounter(Report.NowMs());
        Report.Emit("rx-start", w => { w.WriteString("side", "ours"); w.WriteNumber("seconds", seconds); w.WriteBoolean("make_before_break", makeBeforeBreak); w.WriteNumber("settle_ms", settle.TotalMilliseconds); });
        var receiver = new FailSafeReceiver(group, counter, makeBeforeBreak);
        receiver.Run(counter.StartMs + seconds * 1000, () => File.Exists(StopFile));
        double endMs = Report.NowMs();
        counter.Write("ours", endMs);
        Summary(counter, switches, opened, primaryBackMs, endMs, receiver);
        group.Dispose();
        lock (opened)
            foreach (var nic in opened)
                nic.Port.Dispose();
        bool over = switches.Any(s => s.Switch.Reason == FailSafeSwitchReason.ActiveRemoved);
        bool back = switches.Any(s => s.Switch.Reason == FailSafeSwitchReason.PreferredReturned);
        return receiver.DeadReads == 0 && over && back ? 0 : 1;
    }

    private static void Summary(SequenceCounter counter, List<(FailSafeSwitch Switch, double Ms)> switches, List<FailSafeNic> opened,
        double primaryBackMs, double endMs, FailSafeReceiver b)
    {
        double overMs = switches.Where(s => s.Switch.Reason == FailSafeSwitchReason.ActiveRemoved).Select(s => s.Ms).FirstOrDefault();
        double backMs = switches.Where(s => s.Switch.Reason == FailSafeSwitchReason.PreferredReturned).Select(s => s.Ms).FirstOrDefault();
        double causeMs = switches.Where(s => s.Switch.Reason == FailSafeSwitchReason.ActiveRemoved).Select(s => s.Switch.CauseTimestampNs / 1e6).FirstOrDefault();
        var gaps = counter.Gaps();
        double split = primaryBackMs > 0 ? primaryBackMs : double.MaxValue;
        long lostOver = gaps.Where(g => g.BeforeMs < split).Sum(g => g.Count);
        long lostBack = gaps.Where(g => g.BeforeMs >= split).Sum(g => g.Count);
        var silOver = overMs > 0 ? counter.LongestSilence(causeMs > 0 ? causeMs : overMs - 1000, overMs + 2000) : (0, 0);
        var silBack = backMs > 0 ? counter.LongestSilence(backMs - 100, backMs + 2000) : (0, 0);
        long afterBack = 0;
        lock (opened)
            foreach (var nic in opened.Where(n => n.Index == 0 && n.Generation > 1))
                afterBack += nic.NewFrames;
        Report.Emit("fs-summary", w =>
        {
            w.WriteNumber("switch_over_ms", overMs);
            w.WriteNumber("switch_over_cause_ms", causeMs);
            w.WriteNumber("primary_back_ms", primaryBackMs);
            w.WriteNumber("switch_back_ms", backMs);
            w.WriteNumber("switches", switches.Count);
            w.WriteNumber("received", counter.Received);
            w.WriteNumber("unique", counter.Unique);
            w.WriteNumber("duplicates", counter.Duplicates);
            w.WriteNumber("late", counter.Late);
            w.WriteNumber("gaps", gaps.Count);
            w.WriteNumber("lost_switch_over", lostOver);
            w.WriteNumber("lost_switch_back", lostBack);
            w.WriteNumber("silence_switch_over_ms", silOver.Item1);
            w.WriteNumber("silence_switch_back_ms", silBack.Item1);
            w.WriteNumber("new_after_switch_back", afterBack);
            w.WriteString("frames_per_port", string.Join(",", opened.Select(n => $"{n.Index}/{n.Generation}:{n.NewFrames}/{n.Frames}")));
            w.WriteNumber("bursts", b.Bursts);
            w.WriteNumber("late_bursts", b.LateBursts);
            w.WriteNumber("dead_reads", b.DeadReads);
            w.WriteNumber("disposed_bursts", b.DisposedBursts);
            w.WriteNumber("previous_port_frames", b.PreviousPortFrames);
            w.WriteNumber("end_ms", endMs);
        });
    }

    private static int Fail(string why)
    {
        Report.Error(why);
        return 1;
    }
}
