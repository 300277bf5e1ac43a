using System.Text;

namespace Hotplug.VmTests;

/// <summary>
/// A child forked without exec while a vfio device is attached (issue 10, item 4). The agent attaches edu
/// through vfio-pci, then calls fork() itself; the child (no runtime code, raw libc calls) lets go of part of
/// what it inherited, sleeps, and _exits (<c>fork BDF MODE CHILD_MS WAIT_MS</c>). The host does QMP
/// <c>device_del</c>; the agent gets the REMOVE and detaches, so only the child can hold the device up.
/// vfio-pci finishes a removal only when the device's file is released, and both an inherited fd and an
/// inherited mapping (its <c>vm_file</c>) hold that file.
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class ForkedChildTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    private const string Bdf = QemuGuest.EduBdf;
    /// <summary>The most device_del → DEVICE_DELETED may take.</summary>
    public const double DeadlineMs = 1000;

    /// <summary>What one run of the <c>fork</c> scenario showed.</summary>
    private sealed record ForkRun(JsonMessage Forked, JsonMessage? Remove, JsonMessage? Detached, JsonMessage ChildExited,
        double? DeletedMs, double DelToChildExitMs, double? DeletedAfterChildExitMs, string Facts);

    /// <summary>One agent run in <paramref name="guest"/> (edu bound to vfio-pci): attach, fork, device_del; what happened.</summary>
    private async Task<ForkRun> RunAsync(QemuGuest guest, string mode, int childMs)
    {
        int from = guest.Channel.Count;
        await guest.RunOkAsync($"{AgentBuild.GuestPath} fork {Bdf} {mode} {childMs} 10000 > $HP_CHAN 2>&1 &");
        var forked = await guest.WaitForAsync(m => m.Str("t") is "forked" or "error" or "exit", TimeSpan.FromSeconds(30), from, "the fork");
        if (forked.Str("t") != "forked")
            throw guest.Fail($"the agent did not fork: {forked.Raw}");

        int qFrom = guest.Qmp.Log.Count;
        double del = JsonLineLog.NowMs();
        await guest.Qmp.ExecuteAsync("device_del", new { id = "dut" });
        JsonMessage? deleted = null;
        try
        {
            deleted = await guest.Qmp.WaitForDeviceDeletedAsync("dut", TimeSpan.FromMilliseconds(childMs + 5000), qFrom);
        }
        catch (TimeoutException)
        {
        }
        var exit = await guest.WaitForAsync(m => m.Str("t") == "exit", TimeSpan.FromMilliseconds(childMs + 15_000), from, "the agent's exit");
        var lines = guest.Channel.Snapshot().Skip(from).Where(m => m.Str("t") is not null and not "done").ToList();
        foreach (var l in lines) Output.WriteLine($"[agent] {l.Raw}");
        Assert.DoesNotContain(lines, m => m.Str("t") == "error");
        Assert.Equal(0, exit.Json.GetProperty("rc").GetInt32());
        var remove = lines.FirstOrDefault(m => m.Str("t") == "event" && m.Str("dev") == Bdf && m.Str("type") == "Remove");
        var detached = lines.FirstOrDefault(m => m.Str("t") == "detached");
        var childExited = lines.Single(m => m.Str("t") == "child-exited");

        double offset = GuestClock.OffsetMs(lines);
        double delG = del - offset;
        double? deletedMs = deleted is null ? null : deleted.HostMs - del;
        // When the child was gone, on the host clock: its exit line's guest time mapped back.
        double childExitMs = GuestClock.Ms(childExited) - delG;
        double? afterChild = deletedMs is { } dm ? dm - childExitMs : null;
        var f = forked.Json;
        var sb = new StringBuilder();
        sb.Append($"mode {mode}: the child holds {f.GetProperty("child_dev_fds").GetInt32()} device fds and {f.GetProperty("child_dev_maps").GetInt32()} device mappings");
        if (f.TryGetProperty("child_dev_detail", out var detail)) sb.Append($" ({detail.GetString()})");
        sb.Append($"; the agent holds {(detached is null ? "?" : $"{detached.Json.GetProperty("dev_fds")} fds, {detached.Json.GetProperty("dev_maps")} mappings")} after its detach; ");
        sb.Append($"device_del -> REMOVE {(remove is null ? "none" : $"{GuestClock.Ms(remove) - delG:F1} ms ({remove.Str("source")})")}, ");
        sb.Append($"-> child exit {childExitMs:F0} ms, -> DEVICE_DELETED {(deletedMs is { } d ? $"{d:F1} ms" : "none")}");
        if (afterChild is { } a) sb.Append($" ({a:+0.0;-0.0} ms from the child's exit)");
        string facts = sb.ToString();
        Output.WriteLine("[Vm] " + facts);
        return new ForkRun(forked, remove, detached, childExited, deletedMs, childExitMs, afterChild, facts);
    }

    /// <summary>
    /// The fixable part (MADV_DONTFORK on every BAR mapping): a child that closed every inherited fd above 2
    /// (as a well-behaved forked child does) still holds the BAR mapping it inherited, and that alone keeps
    /// vfio-pci from finishing the removal until the child exits. Expected: DEVICE_DELETED within a second.
    /// </summary>
    [Fact]
    public async Task A_forked_child_that_closed_its_fds_does_not_hold_up_the_vfio_removal()
    {
        using var guest = await StartGuestAsync("fork-close-fds");
        await RemovalDuringAttachTests.BindAsync(guest, "vfio-pci");
        var run = await RunAsync(guest, "close-fds", childMs: 15_000);
        if (run.DeletedMs is { } runMs) VmTimings.Add(Table, "close-fds: the child holds the BAR mapping only", "device_del → DEVICE_DELETED (host)", runMs);
        Assert.True(run.Forked.Json.GetProperty("child_dev_fds").GetInt32() == 0, $"the child did not close its fds: {run.Facts}");
        AssertAgentLetGo(run);
        Assert.True(run.DeletedMs is <= DeadlineMs,
            $"the removal waited for the forked child{(run.Forked.Json.GetProperty("child_dev_maps").GetInt32() > 0 ? ", which holds only the BAR mapping it inherited (the mapping needs MADV_DONTFORK)" : "")}: {run.Facts}");
    }

    /// <summary>
    /// What no library can fix, shown so that the guidance is backed by a measurement: a child forked without
    /// exec that keeps the inherited vfio DEVICE fd holds the removal up until it exits, even with no BAR
    /// mapping (O_CLOEXEC closes fds on exec only, and Linux has no close-on-fork). The inherited group and
    /// container fds do not: a child that closed only the device fd lets the removal finish at once.
    /// Apps must not fork without exec while a vfio device is attached, or the child must close the fds it
    /// inherited (close_range(3, ~0U, 0)) before anything else.
    /// </summary>
    [Fact]
    public async Task A_forked_child_that_keeps_the_vfio_device_fd_holds_up_the_removal_until_it_exits()
    {
        const int childMs = 3_000;
        using var guest = await StartGuestAsync("fork-fd");
        await RemovalDuringAttachTests.BindAsync(guest, "vfio-pci");

        // The child unmapped the BAR and keeps every fd: device, group, container.
        var keeps = await RunAsync(guest, "unmap", childMs);
        if (keeps.DeletedMs is { } keepsMs) VmTimings.Add(Table, "unmap: the child holds the device, group and container fds", "device_del → DEVICE_DELETED (host)", keepsMs);
        Assert.True(keeps.Forked.Json.GetProperty("child_dev_maps").GetInt32() == 0, $"the child still maps the BAR: {keeps.Facts}");
        Assert.Contains("anon_inode:[vfio-device]", keeps.Forked.Str("child_dev_detail") ?? "");
        AssertAgentLetGo(keeps);
        Assert.True(keeps.DeletedAfterChildExitMs is { } after && after > -250 && after <= DeadlineMs,
            $"expected DEVICE_DELETED right after the child's exit, not before: {keeps.Facts}");

        await RemovalDuringAttachTests.PlugAgainAsync(guest, "vfio-pci");
        // The child unmapped the BAR and closed the device fd; it keeps the group and container fds.
        var group = await RunAsync(guest, "unmap-close-device", childMs);
        if (group.DeletedMs is { } groupMs) VmTimings.Add(Table, "unmap-close-device: the child holds the group and container fds", "device_del → DEVICE_DELETED (host)", groupMs);
        Assert.True(group.Forked.Json.GetProperty("child_dev_maps").GetInt32() == 0, $"the child still maps the BAR: {group.Facts}");
        Assert.DoesNotContain("vfio-device", group.Forked.Str("child_dev_detail") ?? "");
        Assert.Contains("/dev/vfio/", group.Forked.Str("child_dev_detail") ?? "");
        AssertAgentLetGo(group);
        Assert.True(group.DeletedMs is <= DeadlineMs, $"the group or container fd held the removal up: {group.Facts}");
    }

    private const string Table = "A child forked without exec (vfio-pci)";

    private static void AssertAgentLetGo(ForkRun run)
    {
        Assert.True(run.Remove is not null && run.Detached is not null, $"the agent got no REMOVE or did not detach: {run.Facts}");
        Assert.True(run.Detached!.Json.GetProperty("dev_fds").GetInt32() == 0 && run.Detached.Json.GetProperty("dev_maps").GetInt32() == 0,
            $"the agent itself still holds the device: {run.Facts}");
    }
}
