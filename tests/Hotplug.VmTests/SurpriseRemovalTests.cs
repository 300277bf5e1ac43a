namespace Hotplug.VmTests;

/// <summary>
/// Surprise removal with the agent on the library: the agent attaches edu through Hotplug and runs a data
/// path on BAR0; the host pulls the device (QMP device_del) and plugs it back (device_add), 20 times in
/// one boot per kernel driver. Expect in every cycle: no crash, REMOVE, the data path reading the dead
/// value (not the old device), a detach that lets go of every fd and mapping of the device, ADD, and a
/// re-attach reading 0x010000ed from the new device; at the end no fd leaked and no mapping left.
/// The agent's timestamps give the timings (table "device_del / device_add" of docs/benchmarks-vm.md).
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class SurpriseRemovalTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    public const int Cycles = 20;

    [Theory]
    [InlineData("uio_pci_generic")]
    [InlineData("igb_uio")]
    [InlineData("vfio-pci")]
    public async Task Twenty_device_del_and_device_add_cycles_leak_nothing(string kernelDriver)
    {
        using var guest = await StartGuestAsync("sr-" + kernelDriver);
        var run = await AgentHotplugRun.StartAsync(guest, kernelDriver, Cycles);
        const string table = "Surprise removal: QMP device_del / device_add";
        VmTimings.Note(table,
            "device_del → signal: the library's first signal (uio: `/dev/uioN` poll error; vfio: the request eventfd; else the uevent), " +
            "→ REMOVE: the application's REMOVE callback runs (the BARs are remapped before it; with vfio the device fd is closed right after the callbacks, which lets the kernel finish), " +
            "→ detached: the data path thread stopped and `HotplugRemove` returned. DEVICE_DELETED is QEMU's event (host clock). " +
            "device_add → ADD callback, → re-attached: the agent bound the kernel driver again (driver_override + drivers_probe) and `HotplugAdd` read 0x010000ed. " +
            "Host instants (device_del, device_add) are mapped onto the guest clock with the smallest host−guest difference over the agent's lines " +
            "(see GuestClock), so the guest-side intervals after a host action can read up to ~1 ms long.");

        AgentHotplugRun.Removal? first = null;
        var sources = new List<string>();
        for (int cycle = 1; cycle <= Cycles; cycle++)
        {
            int qFrom = guest.Qmp.Log.Count;
            double del = 0;
            var removal = await run.RemoveAsync(cycle, async () =>
            {
                del = JsonLineLog.NowMs();
                await guest.Qmp.ExecuteAsync("device_del", new { id = "dut" });
            });
            first ??= removal;
            var deleted = await guest.Qmp.WaitForDeviceDeletedAsync("dut", AgentHotplugRun.StepTimeout, qFrom);

            double add = 0;
            var addition = await run.AddAsync(cycle, removal, async () =>
            {
                add = JsonLineLog.NowMs();
                await guest.Qmp.ExecuteAsync("device_add", new Dictionary<string, string> { ["driver"] = "edu", ["id"] = "dut", ["bus"] = "rp1" });
            });

            // Host instants on the guest clock (offset from this cycle's agent lines).
            double offset = GuestClock.OffsetMs(guest.Channel.Snapshot().Skip(removal.From));
            double delG = del - offset, addG = add - offset;
            double signal = AgentHotplugRun.Ms(removal.Remove, "sig_ms") - delG;
            double callback = AgentHotplugRun.Ms(removal.Remove) - delG;
            double detached = AgentHotplugRun.Ms(removal.Detached) - delG;
            double deletedMs = deleted.HostMs - del;
            double addCallback = AgentHotplugRun.Ms(addition.Add) - addG;
            double reattached = AgentHotplugRun.Ms(addition.Reattached) - addG;
            string source = removal.Remove.Str("source") ?? "?";
            sources.Add(source);
            Output.WriteLine($"[Vm] {kernelDriver} cycle {cycle}: device_del -> signal ({source}) {signal:F1} ms, REMOVE callback {callback:F1} ms, " +
                              $"detached {detached:F1} ms, DEVICE_DELETED {deletedMs:F1} ms (host); device_add -> ADD {addCallback:F1} ms, " +
                              $"re-attached {reattached:F1} ms; data path {removal.Stopped.Json.GetProperty("reads")} reads, " +
                              $"{removal.Stopped.Json.GetProperty("dead_reads")} dead; clock offset {offset:F1} ms");
            VmTimings.Add(table, kernelDriver, "device_del → signal", signal);
            VmTimings.Add(table, kernelDriver, "→ REMOVE callback", callback);
            VmTimings.Add(table, kernelDriver, "→ detached", detached);
            VmTimings.Add(table, kernelDriver, "→ DEVICE_DELETED (host)", deletedMs);
            VmTimings.Add(table, kernelDriver, "device_add → ADD callback", addCallback);
            VmTimings.Add(table, kernelDriver, "→ re-attached", reattached);
        }
        var done = await run.FinishAsync(first!);
        Output.WriteLine($"[Vm] {kernelDriver}: {Cycles} cycles, REMOVE sources {string.Join(",", sources.GroupBy(s => s).Select(g => $"{g.Key} x{g.Count()}"))}; " +
                          $"first detach {first!.Detached.Raw}; end {done.Raw}");
    }
}
