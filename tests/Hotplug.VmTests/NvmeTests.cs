namespace Hotplug.VmTests;

/// <summary>
/// The NVMe driver (Hotplug.Nvme, issue 13) on QEMU's NVMe controller, on its own root port (rp2, guest BDF
/// <see cref="Bdf"/>), backed by a 16 MiB raw file the test creates. The guest keeps the kernel's nvme driver off
/// (<c>initcall_blacklist=nvme_init</c>, drivers_autoprobe 0); the controller is bound to vfio-pci. The agent's
/// <c>nvme</c> scenario: IDENTIFY; bad requests throw with nothing sent; every block written and read back verified
/// from 2 threads with their own queue pairs (async API and batch API); then continuous verified 4 KiB I/O while the
/// host does <c>device_del</c>: every command completes (success or ControllerRemoved), the agent survives,
/// DEVICE_DELETED arrives; <c>device_add</c> of the same controller: a new controller on the same allocator, and
/// every block acknowledged as written before the removal reads back intact. <see cref="Cycles"/> such cycles, with
/// the same fds, locked memory and (about) mappings at every detach: nothing leaks.
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class NvmeTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    /// <summary>The controller behind rp2.</summary>
    public const string Bdf = "0000:02:00.0";
    /// <summary>
    /// The most device_del → DEVICE_DELETED may take. Measured 165 ms on a quiet host; 2.3 s once when the shared
    /// 2-core host was saturated (the whole guest ran ~25 times slower: a 64 KiB command took 24 ms instead of 1).
    /// </summary>
    public const double DeletedWithinMs = 5000;

    /// <summary>device_del / device_add cycles under I/O (the issue asks for 5 with no leak).</summary>
    public const int Cycles = 5;

    private static readonly Dictionary<string, string> Controller = new()
    {
        ["driver"] = "nvme", ["id"] = "nvme1", ["serial"] = "deadbeef", ["drive"] = "nvme0", ["bus"] = "rp2",
    };

    [Fact]
    public async Task Nvme_identify_verified_io_from_two_queue_pairs_survives_five_device_del_add_cycles_with_the_data_intact_and_no_leak()
    {
        string image = Path.Combine(GuestImage.CacheDir, $"nvme-{Environment.ProcessId}.img");
        using (var f = File.Create(image))
            f.SetLength(16 << 20);
        try
        {
            using var guest = await QemuGuest.StartAsync(Fixture.Image, Output, new QemuGuestOptions
            {
                Name = "nvme",
                ExtraKernelArgs = "initcall_blacklist=nvme_init hugepages=16",
                ExtraQemuArgs =
                [
                    "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x11",
                    "-blockdev", $"driver=file,filename={image},node-name=nvme0",
                    "-device", "nvme,id=nvme1,serial=deadbeef,drive=nvme0,bus=rp2",
                ],
            });
            VmTimings.KernelVersion = guest.KernelVersion;
            await guest.RunOkAsync("echo 0 > /sys/bus/pci/drivers_autoprobe");
            await RemovalDuringAttachTests.BindAsync(guest, "vfio-pci", Bdf);
            int from = guest.Channel.Count;
            await guest.RunOkAsync($"{AgentBuild.GuestPath} nvme {Bdf} {Cycles} > $HP_CHAN 2>&1 &");

            var id = await Expect(guest, "identify", 60, from);
            Assert.Equal("QEMU NVMe Ctrl", id.Str("model"));
            Assert.Equal("deadbeef", id.Str("serial"));
            Assert.Equal(32768, id.Json.GetProperty("blocks").GetInt64());
            Assert.Equal(512, id.Json.GetProperty("block_size").GetInt32());
            Output.WriteLine($"identify: {id.Raw}");
            Output.WriteLine($"bad input: {(await Expect(guest, "bad-input", 60, from)).Raw}");
            var io = await Expect(guest, "io-ok", 120, from);
            Output.WriteLine($"verified I/O: {io.Raw}");
            Assert.Equal(32768, io.Json.GetProperty("blocks").GetInt64());

            JsonMessage? firstDetached = null;
            for (int cycle = 1; cycle <= Cycles; cycle++)
            {
                var detached = await PullAndPlugAsync(guest, from, cycle);
                firstDetached ??= detached;
                // Same state (detached, after a full GC) at every cycle: same fds, same locked memory, about as many mappings.
                Assert.True(detached.Json.GetProperty("fds").GetInt32() == firstDetached.Json.GetProperty("fds").GetInt32(),
                    $"cycle {cycle}: fd count changed: {firstDetached.Raw} vs {detached.Raw}");
                Assert.True(detached.Str("locked") == firstDetached.Str("locked"), $"cycle {cycle}: locked memory changed: {firstDetached.Raw} vs {detached.Raw}");
                int grown = detached.Json.GetProperty("maps").GetInt32() - firstDetached.Json.GetProperty("maps").GetInt32();
                Assert.True(grown <= 16, $"cycle {cycle}: /proc/self/maps grew by {grown} lines: {firstDetached.Raw} vs {detached.Raw}");
            }
            var summary = await Expect(guest, "summary", 60, from);
            Assert.Equal(Cycles, summary.Json.GetProperty("cycles").GetInt32());
            var exit = await guest.WaitForAsync(m => m.Str("t") == "exit", TimeSpan.FromSeconds(30), from, "the agent's exit");
            Assert.Equal(0, exit.Json.GetProperty("rc").GetInt32());
        }
        finally
        {
            File.Delete(image);
        }
    }

    /// <summary>
    /// One cycle: device_del under continuous verified I/O (every command completes, the agent survives, the kernel
    /// finishes the removal and the agent holds nothing of the device), then device_add, bind, and the re-attach with
    /// every acknowledged block intact. Returns the agent's <c>detached</c> line (its resources, after a full GC).
    /// </summary>
    private async Task<JsonMessage> PullAndPlugAsync(QemuGuest guest, int from, int cycle)
    {
        bool InCycle(JsonMessage m) => m.Json.TryGetProperty("cycle", out var c) && c.GetInt32() == cycle;
        await Expect(guest, "io-running", 60, from, InCycle);
        int q = guest.Qmp.Log.Count;
        double del = JsonLineLog.NowMs();
        await guest.Qmp.ExecuteAsync("device_del", new { id = "nvme1" });
        var deleted = await guest.Qmp.WaitForDeviceDeletedAsync("nvme1", TimeSpan.FromSeconds(30), q);
        double deletedMs = deleted.HostMs - del;
        for (int i = 0; i < 2; i++)
        {
            var stopped = await Expect(guest, "io-stopped", 60, from, m => InCycle(m) && m.Json.GetProperty("worker").GetInt32() == i);
            Output.WriteLine($"cycle {cycle} worker {i}: {stopped.Raw}");
            Assert.True(stopped.Str("failure") == "" && stopped.Json.GetProperty("outstanding").GetInt32() == 0, stopped.Raw);
        }
        var detached = await Expect(guest, "detached", 60, from, InCycle);
        Output.WriteLine($"cycle {cycle}: device_del -> DEVICE_DELETED {deletedMs:F1} ms; {detached.Raw}");
        Assert.True(detached.Json.GetProperty("dev_fds").GetInt32() == 0 && detached.Json.GetProperty("dev_maps").GetInt32() == 0, detached.Raw);
        Assert.True(deletedMs <= DeletedWithinMs, $"cycle {cycle}: DEVICE_DELETED {deletedMs:F0} ms after device_del");

        await guest.Qmp.ExecuteAsync("device_add", Controller);
        await RemovalDuringAttachTests.BindAsync(guest, "vfio-pci", Bdf);
        var re = await Expect(guest, "reattach-ok", 120, from, InCycle);
        Output.WriteLine($"cycle {cycle} re-attach: {re.Raw}");
        Assert.True(re.Json.GetProperty("blocks_verified").GetInt64() == 32768, re.Raw);
        return detached;
    }

    /// <summary>Waits for the agent's line of <paramref name="type"/>; an error, an exit or another outcome first fails with it.</summary>
    private static async Task<JsonMessage> Expect(QemuGuest guest, string type, int seconds, int from, Func<JsonMessage, bool>? also = null)
    {
        var m = await guest.WaitForAsync(x => (x.Str("t") == type && (also?.Invoke(x) ?? true)) || x.Str("t") is "error" or "exit" or "bad-input-failed" or "reattach-bad",
            TimeSpan.FromSeconds(seconds), from, type);
        Assert.True(m.Str("t") == type, m.Raw);
        return m;
    }
}
