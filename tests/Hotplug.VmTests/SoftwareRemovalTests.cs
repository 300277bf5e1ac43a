namespace Hotplug.VmTests;

/// <summary>
/// Software removal inside the guest, for every kernel driver: <c>echo 1 &gt; /sys/bus/pci/devices/BDF/remove</c>
/// while the agent has the device attached and its data path running, then <c>echo 1 &gt; /sys/bus/pci/rescan</c>.
/// Expect REMOVE, the dead value, a clean detach, then ADD and a re-attach reading 0x010000ed (the rescanned
/// device has no driver: the agent binds it again with driver_override + drivers_probe).
/// With vfio-pci the write to <c>remove</c> blocks in the kernel until the library has released the device.
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class SoftwareRemovalTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    public const int Cycles = 2;
    private const string Dev = QemuGuest.EduSysfs;

    [Theory]
    [InlineData("uio_pci_generic")]
    [InlineData("igb_uio")]
    [InlineData("vfio-pci")]
    public async Task Sysfs_remove_then_rescan(string kernelDriver)
    {
        using var guest = await StartGuestAsync("sw-" + kernelDriver);
        var run = await AgentHotplugRun.StartAsync(guest, kernelDriver, Cycles);
        const string table = "Software removal in the guest: sysfs remove / rescan";
        VmTimings.Note(table,
            "Guest clock only: from the start of the shell command that writes `remove` (or `rescan`) to the library's first signal, " +
            "the REMOVE callback and the detach; \"remove returned\" is when the write to `remove` came back (with vfio-pci it blocks until the library released the device).");

        AgentHotplugRun.Removal? first = null;
        for (int cycle = 1; cycle <= Cycles; cycle++)
        {
            GuestCommandResult? rm = null;
            var removal = await run.RemoveAsync(cycle, async () => rm = await guest.RunOkAsync($"echo 1 > {Dev}/remove"));
            first ??= removal;
            await guest.RunOkAsync($"test ! -e {Dev}"); // the kernel finished the removal
            GuestCommandResult? rescan = null;
            var addition = await run.AddAsync(cycle, removal, async () => rescan = await guest.RunOkAsync("echo 1 > /sys/bus/pci/rescan"));

            double t0 = rm!.GuestStartMs;
            double signal = AgentHotplugRun.Ms(removal.Remove, "sig_ms") - t0;
            double callback = AgentHotplugRun.Ms(removal.Remove) - t0;
            double detached = AgentHotplugRun.Ms(removal.Detached) - t0;
            double returned = rm.GuestEndMs - t0;
            double add = AgentHotplugRun.Ms(addition.Add) - rescan!.GuestStartMs;
            double reattached = AgentHotplugRun.Ms(addition.Reattached) - rescan.GuestStartMs;
            Output.WriteLine($"[Vm] {kernelDriver} cycle {cycle}: remove -> signal ({removal.Remove.Str("source")}) {signal:F1} ms, REMOVE callback {callback:F1} ms, " +
                              $"detached {detached:F1} ms, remove returned {returned:F1} ms; rescan -> ADD ({addition.Add.Str("source")}) {add:F1} ms, re-attached {reattached:F1} ms");
            VmTimings.Add(table, kernelDriver, "remove → signal", signal);
            VmTimings.Add(table, kernelDriver, "→ REMOVE callback", callback);
            VmTimings.Add(table, kernelDriver, "→ detached", detached);
            VmTimings.Add(table, kernelDriver, "remove returned", returned);
            VmTimings.Add(table, kernelDriver, "rescan → ADD callback", add);
            VmTimings.Add(table, kernelDriver, "→ re-attached", reattached);
        }
        await run.FinishAsync(first!);
    }
}
