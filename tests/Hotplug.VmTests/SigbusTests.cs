namespace Hotplug.VmTests;

/// <summary>
/// A real kernel SIGBUS on a vfio BAR mapping: the agent attaches edu through vfio-pci, runs a data path on
/// BAR0 and clears Memory Space Enable in the COMMAND register through the vfio config region; vfio-pci
/// zaps the mapping and the next access faults. Expect: the process survives, the data path reads the
/// dead value, one SigbusFaultHandled for the device, exactly one REMOVE (source Sigbus), nothing else;
/// then detach and attach again, <see cref="Rounds"/> times in one run.
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class SigbusTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    private const string Dev = QemuGuest.EduSysfs;
    private const string Bdf = QemuGuest.EduBdf;
    /// <summary>Fault, detach, re-attach: this many times in one agent run.</summary>
    public const int Rounds = 5;

    [Fact]
    public async Task Vfio_memory_space_disable_gives_a_real_sigbus_that_is_survived_then_reattach()
    {
        using var guest = await StartGuestAsync("sigbus");
        await guest.RunOkAsync($"echo vfio-pci > {Dev}/driver_override && echo {Bdf} > /sys/bus/pci/drivers_probe && readlink {Dev}/driver");

        int from = guest.Channel.Count;
        await guest.RunOkAsync($"{AgentBuild.GuestPath} sigbus {Bdf} {Rounds} > $HP_CHAN 2>&1 &");
        var exit = await guest.WaitForAsync(m => m.Str("t") is "exit", TimeSpan.FromSeconds(60), from, "the agent's exit");
        var lines = guest.Channel.Snapshot().Skip(from).Where(m => m.Str("t") is not null and not "done").ToList();
        foreach (var l in lines.Where(l => l.Str("t") != "value")) Output.WriteLine($"[agent] {l.Raw}");
        JsonMessage One(string t, int round) =>
            lines.SingleOrDefault(m => m.Str("t") == t && m.Json.TryGetProperty("round", out var r) && r.GetInt32() == round)
            ?? throw guest.Fail($"the agent sent no single \"{t}\" line for round {round}");

        Assert.DoesNotContain(lines, m => m.Str("t") == "error");
        Assert.Equal(0, exit.Json.GetProperty("rc").GetInt32()); // the process survived every SIGBUS and ended normally
        var attached = lines.Single(m => m.Str("t") == "attached");
        Assert.Equal("Vfio", attached.Str("kind"));
        Assert.Equal("0x010000ed", attached.Str("id"));

        const string table = "Real kernel SIGBUS (vfio-pci, Memory Space Enable cleared)";
        VmTimings.Note(table, "Guest clock throughout (the shim's timestamps and the agent's), one fault per round. " +
            "The column \"released, SigbusFaultHandled raised\" is when the event thread finished handling the fault (BARs remapped, " +
            "device marked removed); the REMOVE callback runs next on the event thread, and the vfio device fd is closed right after the callbacks.");
        int previous = attached.Index;
        for (int round = 1; round <= Rounds; round++)
        {
            var cleared = One("mse-cleared", round);
            var stopped = One("datapath-stopped", round);
            var detached = One("detached", round);
            var reattach = One("reattach", round);
            Assert.Equal("0x0103", cleared.Str("before"));
            // From the previous attach to this detach: exactly one fault for the device and exactly one device
            // event, REMOVE from Sigbus (no vfio request, no uevent: the device never left the bus).
            var faults = lines.Where(m => m.Str("t") == "sigbus" && m.Index > previous && m.Index < detached.Index).ToList();
            var events = lines.Where(m => m.Str("t") == "event" && m.Index > previous && m.Index < reattach.Index).ToList();
            Assert.True(faults.Count == 1, $"round {round}: {faults.Count} faults");
            Assert.Equal(Bdf, faults[0].Str("dev"));
            // By the guest's clock, not by line order: the event thread may report the fault before the
            // writing thread gets to report its write.
            double writeMs = cleared.Json.GetProperty("write_ms").GetDouble(), faultMs = faults[0].Json.GetProperty("fault_ms").GetDouble();
            Assert.True(faultMs >= writeMs, $"round {round}: a fault at {faultMs} ms, before Memory Space Enable was cleared at {writeMs} ms");
            Assert.True(events.Count == 1, $"round {round}: device events {string.Join(", ", events.Select(e => e.Raw))}");
            Assert.Equal(Bdf, events[0].Str("dev"));
            Assert.Equal("Remove", events[0].Str("type"));
            Assert.Equal("Sigbus", events[0].Str("source"));
            // The data path kept running and reads the dead value; the BAR is remapped, the device is Removed.
            Assert.True(stopped.Json.GetProperty("fault").GetBoolean() && stopped.Json.GetProperty("remove").GetBoolean(), stopped.Raw);
            Assert.Equal("0xffffffff", stopped.Str("last"));
            Assert.Equal("0xffffffff", stopped.Str("final"));
            Assert.True(stopped.Json.GetProperty("remapped").GetBoolean(), stopped.Raw);
            Assert.Equal("Removed", stopped.Str("state"));
            Assert.True(stopped.Json.GetProperty("dead_reads").GetInt64() > 0, stopped.Raw);
            // Detach let go of everything.
            Assert.True(detached.Json.GetProperty("dev_fds").GetInt32() == 0 && detached.Json.GetProperty("dev_maps").GetInt32() == 0, detached.Raw);
            // Re-attach works as is: vfio-pci enabled the function again on open (docs/testing.md).
            Assert.True(reattach.Json.GetProperty("ok").GetBoolean(), reattach.Raw);
            Assert.Equal("0x010000ed", reattach.Str("id"));
            Assert.Equal("0xedcba987", reattach.Str("inv"));
            Assert.Equal("0x0103", reattach.Str("command"));
            Assert.False(reattach.Json.GetProperty("remapped").GetBoolean(), reattach.Raw);
            previous = reattach.Index;

            double fault = GuestClock.Ms(faults[0], "fault_ms");
            double write = GuestClock.Ms(cleared, "write_ms");
            double remapped = GuestClock.Ms(faults[0], "remapped_ms") - fault;
            double handled = GuestClock.Ms(faults[0], "handled_ms") - fault;
            double raised = GuestClock.Ms(faults[0]) - fault; // after HandleRemoval: BARs remapped, vfio device fd closed
            double callback = GuestClock.Ms(events[0]) - fault;
            Output.WriteLine($"[Vm] SIGBUS round {round}: config write -> fault {fault - write:F3} ms, fault -> remapped {remapped:F3} ms, " +
                              $"-> event thread {handled:F3} ms, -> released (SigbusFaultHandled raised) {raised:F3} ms, -> REMOVE callback {callback:F3} ms; " +
                              $"data path {stopped.Json.GetProperty("reads")} reads, {stopped.Json.GetProperty("dead_reads")} dead");
            VmTimings.Add(table, "vfio-pci", "config write → fault", fault - write);
            VmTimings.Add(table, "vfio-pci", "fault → remapped (in the handler)", remapped);
            VmTimings.Add(table, "vfio-pci", "fault → event thread", handled);
            VmTimings.Add(table, "vfio-pci", "fault → released, SigbusFaultHandled raised", raised);
            VmTimings.Add(table, "vfio-pci", "fault → REMOVE callback", callback);
        }
        Assert.DoesNotContain(lines, m => m.Str("t") is "event" or "sigbus" && m.Index > previous);
        Assert.DoesNotContain(lines, m => m.Str("t") == "reattach-after-sysfs");
        Assert.Equal(0, lines.Single(m => m.Str("t") == "summary").Json.GetProperty("callback_failures").GetInt32());

        // Nothing else crashed: the guest kernel logged no oops or warning, and the guest still answers.
        var dmesg = await guest.RunOkAsync("dmesg");
        Assert.DoesNotContain("Call Trace", dmesg.Output);
        Assert.DoesNotContain("segfault", dmesg.Output);
    }
}
