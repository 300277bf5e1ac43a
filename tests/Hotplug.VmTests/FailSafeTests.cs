namespace Hotplug.VmTests;

/// <summary>
/// The fail-safe packet scenario (issue 14 item 3): two e1000 NICs for the app, nic1 (primary, rp1, guest BDF
/// <see cref="Primary"/>) and nic2 (standby, rp2, <see cref="Standby"/>), and a virtio-net NIC driven by the guest
/// kernel (eth0), all on QEMU hub 0; hpsend sends sequence-numbered frames on eth0 and the hub repeats them to both
/// e1000s. The agent's <c>failsafe</c> scenario receives on the group's active port and counts. With traffic flowing
/// the host does device_del of nic1 → the group switches to nic2 with bounded loss and traffic continues; device_add
/// of nic1 and a guest bind → the group attaches it and switches back after its settle time, and traffic continues on
/// nic1. No burst ever returns a frame from a port the group has retired (a removed device). Both kernel drivers.
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class FailSafeTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    public const string Primary = "0000:01:00.0";
    public const string Standby = "0000:02:00.0";
    /// <summary>Frames per second asked of hpsend (the TCG guest sends fewer when the host is busy: the checks use what was sent).</summary>
    public const int Pps = 2000;
    /// <summary>The most loss allowed at a switch, in seconds of the traffic really sent (TCG: the whole guest stalls at times).</summary>
    public const double MaxLossSeconds = 3;

    private static readonly Dictionary<string, string> Nic1 = new()
    {
        ["driver"] = "e1000", ["id"] = "nic1", ["netdev"] = "hp1", ["bus"] = "rp1",
    };

    [Theory]
    [InlineData("vfio-pci")]
    [InlineData("igb_uio")]
    public async Task FailSafe_group_switches_over_on_device_del_and_back_after_device_add_with_traffic_flowing(string kernelDriver)
    {
        using var guest = await QemuGuest.StartAsync(Fixture.Image, Output, new QemuGuestOptions
        {
            Name = "failsafe-" + kernelDriver,
            WithEdu = false,
            // iommu=pt: uio DMA uses physical addresses (identity domain); vfio gets its own domain either way.
            ExtraKernelArgs = "iommu=pt hugepages=16",
            ExtraQemuArgs =
            [
                "-netdev", "hubport,id=hp0,hubid=0", "-device", "virtio-net-pci,netdev=hp0,bus=pcie.0,addr=0x5",
                "-netdev", "hubport,id=hp1,hubid=0", "-device", "e1000,id=nic1,netdev=hp1,bus=rp1",
                "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x11",
                "-netdev", "hubport,id=hp2,hubid=0", "-device", "e1000,id=nic2,netdev=hp2,bus=rp2",
            ],
        });
        VmTimings.KernelVersion = guest.KernelVersion;
        await guest.RunOkAsync("echo 0 > /sys/bus/pci/drivers_autoprobe; ip link set eth0 up");
        await RemovalDuringAttachTests.BindAsync(guest, kernelDriver, Primary);
        await RemovalDuringAttachTests.BindAsync(guest, kernelDriver, Standby);
        int from = guest.Channel.Count;
        await guest.RunOkAsync($"rm -f /tmp/fs-stop; {AgentBuild.GuestPath} failsafe {Primary} {Standby} 240 > $HP_CHAN 2>&1 &");
        var initial = await Expect(guest, "fs-switch", 90, from);
        Assert.Equal("Initial", initial.Str("reason"));
        Assert.Equal("pci:" + Primary, initial.Str("to"));
        await Expect(guest, "rx-start", 30, from);
        await guest.RunOkAsync($"hpsend tx eth0 {Pps} 600 > $HP_CHAN 2>&1 &");
        await Expect(guest, "send-start", 30, from);
        long before = (await Ticks(guest, from, 1000, 60)).Json.GetProperty("unique").GetInt64();
        Output.WriteLine($"traffic flowing on the primary: {before} frames");

        int q = guest.Qmp.Log.Count;
        await guest.Qmp.ExecuteAsync("device_del", new { id = "nic1" });
        var over = await Expect(guest, "fs-switch", 60, from, m => m.Str("reason") == "ActiveRemoved");
        Assert.Equal("pci:" + Standby, over.Str("to"));
        await guest.Qmp.WaitForDeviceDeletedAsync("nic1", TimeSpan.FromSeconds(30), q);
        long onStandby = (await Ticks(guest, over.Index, 1000, 60)).Json.GetProperty("unique").GetInt64();
        Output.WriteLine($"switch-over: {over.Raw}; traffic continues on the standby: {onStandby} frames");

        await guest.Qmp.ExecuteAsync("device_add", Nic1);
        await RemovalDuringAttachTests.BindAsync(guest, kernelDriver, Primary);
        var back = await Expect(guest, "fs-switch", 60, from, m => m.Str("reason") == "PreferredReturned");
        Assert.Equal("pci:" + Primary, back.Str("to"));
        long afterBack = (await Ticks(guest, back.Index, 1000, 60)).Json.GetProperty("unique").GetInt64();
        Output.WriteLine($"switch-back: {back.Raw}; traffic continues on the primary: {afterBack} frames");

        await guest.RunOkAsync("kill -INT $(pidof hpsend)");
        var sent = await Expect(guest, "send-end", 30, from);
        await Task.Delay(1000); // the last frames in flight
        await guest.RunOkAsync("touch /tmp/fs-stop");
        var summary = await Expect(guest, "fs-summary", 60, from);
        var exit = await guest.WaitForAsync(m => m.Str("t") == "exit", TimeSpan.FromSeconds(30), from, "the agent's exit");
        Output.WriteLine($"sender: {sent.Raw}");
        Output.WriteLine($"summary: {summary.Raw}");

        var s = summary.Json;
        long n = sent.Json.GetProperty("sent").GetInt64();
        double pps = sent.Json.GetProperty("pps_real").GetDouble();
        Assert.True(s.GetProperty("dead_reads").GetInt64() == 0, $"a burst returned frames from a retired (removed) port: {summary.Raw}");
        Assert.True(s.GetProperty("new_after_switch_back").GetInt64() > 0, $"no new frame through the re-added primary: {summary.Raw}");
        long lostOver = s.GetProperty("lost_switch_over").GetInt64(), lostBack = s.GetProperty("lost_switch_back").GetInt64();
        Assert.True(lostOver <= pps * MaxLossSeconds, $"lost {lostOver} frames at the switch-over (> {MaxLossSeconds} s at {pps:F0}/s): {summary.Raw}");
        Assert.True(lostBack <= pps * MaxLossSeconds, $"lost {lostBack} frames at the switch-back (> {MaxLossSeconds} s at {pps:F0}/s): {summary.Raw}");
        Assert.True(s.GetProperty("unique").GetInt64() + lostOver + lostBack >= n - pps, $"sent {n}, received {s.GetProperty("unique")} new: {summary.Raw}");
        Assert.Equal(0, exit.Json.GetProperty("rc").GetInt32());
    }

    /// <summary>Waits for an rx-tick showing at least <paramref name="more"/> new frames more than the first tick after <paramref name="from"/>.</summary>
    private static async Task<JsonMessage> Ticks(QemuGuest guest, int from, long more, int seconds)
    {
        var first = await Expect(guest, "rx-tick", seconds, from);
        long start = first.Json.GetProperty("unique").GetInt64();
        return await Expect(guest, "rx-tick", seconds, first.Index, m => m.Json.GetProperty("unique").GetInt64() >= start + more);
    }

    /// <summary>Waits for the agent's line of <paramref name="type"/>; an error or an exit first fails with it.</summary>
    private static async Task<JsonMessage> Expect(QemuGuest guest, string type, int seconds, int from, Func<JsonMessage, bool>? also = null)
    {
        var m = await guest.WaitForAsync(x => (x.Str("t") == type && (also?.Invoke(x) ?? true)) || x.Str("t") is "error" or "exit",
            TimeSpan.FromSeconds(seconds), from, type);
        Assert.True(m.Str("t") == type, m.Raw);
        return m;
    }
}
