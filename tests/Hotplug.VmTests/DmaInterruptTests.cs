namespace Hotplug.VmTests;

/// <summary>
/// DMA memory and device interrupts on a real kernel (issue 12), with QEMU's edu device: the agent's <c>dma</c>
/// scenario gives edu DMA memory, moves 4088 bytes RAM → edu → RAM with each transfer completed by the device's
/// interrupt (vfio: MSI through an eventfd; uio: the uio interrupt), then the host pulls the device with a DMA
/// and an interrupt wait in flight and plugs it back, <see cref="Cycles"/> times. Expect: every round trip
/// byte-exact; the waiter completes (DeviceRemoved, or Fired if the DMA beat the removal) — never a hang; the
/// kernel finishes the removal (DEVICE_DELETED) within <see cref="DeletedWithinMs"/>; after each re-attach the
/// same allocator and the same IOVAs work again (vfio: the container's mappings replayed); nothing leaks.
/// The guest boots with <c>iommu=pt</c> (uio DMA goes to physical addresses: an identity domain) and hugepages.
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class DmaInterruptTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    private const string Bdf = QemuGuest.EduBdf;
    /// <summary>Removals with DMA in flight per driver.</summary>
    public const int Cycles = 10;
    /// <summary>The most device_del → DEVICE_DELETED may take.</summary>
    public const double DeletedWithinMs = 2000;

    [Theory]
    [InlineData("vfio-pci", "irq")]
    [InlineData("vfio-pci", "intx")]
    [InlineData("uio_pci_generic", "irq")]
    [InlineData("igb_uio", "poll")]
    public async Task Dma_round_trips_with_interrupts_survive_device_del_and_work_again_at_the_same_iovas(string kernelDriver, string completion)
    {
        using var guest = await StartGuestAsync($"dma-{kernelDriver}-{completion}", "iommu=pt hugepages=16");
        await RemovalDuringAttachTests.BindAsync(guest, kernelDriver);
        int from = guest.Channel.Count;
        // vfio: MSI ("irq") and INTx (auto-masked: the device is acked, then the line unmasked); uio_pci_generic: its
        // uio interrupt. igb_uio (out of tree) crashed the guest kernel in its interrupt handler (uio_event_notify on
        // a freed uio device) when a device it served was hot-removed with its interrupt in use and a new one came,
        // so igb_uio completes its DMA by polling here.
        await guest.RunOkAsync($"{AgentBuild.GuestPath} dma {Bdf} {Cycles} {completion} > $HP_CHAN 2>&1 &");
        var memory = await guest.WaitForAsync(m => m.Str("t") is "dma-memory" or "error" or "exit", TimeSpan.FromSeconds(60), from, "the DMA memory");
        Assert.True(memory.Str("t") == "dma-memory", memory.Raw);
        JsonMessage? first = null;
        for (int round = 0; round < Cycles; round++)
        {
            var ok = await guest.WaitForAsync(m => m.Str("t") is "dma-ok" or "dma-bad" or "error" or "exit", TimeSpan.FromSeconds(60), from, $"round trip {round}");
            Assert.True(ok.Str("t") == "dma-ok", ok.Raw);
            var armed = await guest.WaitForAsync(m => m.Str("t") is "dma-armed" or "error" or "exit", TimeSpan.FromSeconds(30), from, $"DMA in flight {round}");
            Assert.True(armed.Str("t") == "dma-armed", armed.Raw);

            int q = guest.Qmp.Log.Count;
            double del = JsonLineLog.NowMs();
            await guest.Qmp.ExecuteAsync("device_del", new { id = "dut" });
            var deleted = await guest.Qmp.WaitForDeviceDeletedAsync("dut", TimeSpan.FromSeconds(30), q);
            double deletedMs = deleted.HostMs - del;
            var waited = await guest.WaitForAsync(m => m.Str("t") is "wait-result" or "error" or "exit", TimeSpan.FromSeconds(30), from, $"the interrupt waiter {round}");
            Assert.True(waited.Str("result") is "DeviceRemoved" or "Fired", waited.Raw);
            var detached = await guest.WaitForAsync(m => m.Str("t") is "detached" or "error" or "exit", TimeSpan.FromSeconds(30), from, $"the detach {round}");
            Assert.True(detached.Str("t") == "detached" && detached.Json.GetProperty("dev_fds").GetInt32() == 0
                && detached.Json.GetProperty("dev_maps").GetInt32() == 0, detached.Raw);
            Assert.True(deletedMs <= DeletedWithinMs, $"round {round}: DEVICE_DELETED {deletedMs:F0} ms after device_del");
            Output.WriteLine($"round {round}: device_del -> DEVICE_DELETED {deletedMs:F1} ms; waiter: {waited.Str("result")}");

            await RemovalDuringAttachTests.PlugAgainAsync(guest, kernelDriver);
            var re = await guest.WaitForAsync(m => m.Str("t") is "reattached" or "error" or "exit", TimeSpan.FromSeconds(60), from, $"the re-attach {round}");
            Assert.True(re.Str("t") == "reattached", re.Raw);
            first ??= re;
            foreach (string held in new[] { "fds", "dev_fds", "dev_maps" })
                Assert.True(re.Json.GetProperty(held).GetInt32() == first.Json.GetProperty(held).GetInt32(), $"round {round}: {held} grew: {re.Raw} vs {first.Raw}");
            Assert.Equal(first.Str("locked"), re.Str("locked"));
            from = re.Index + 1; // the next round starts after this re-attach, not at it
        }
        var last = await guest.WaitForAsync(m => m.Str("t") is "dma-ok" or "dma-bad" or "error" or "exit", TimeSpan.FromSeconds(60), from, "the last round trip");
        Assert.True(last.Str("t") == "dma-ok", last.Raw);
        var exit = await guest.WaitForAsync(m => m.Str("t") == "exit", TimeSpan.FromSeconds(30), from, "the agent's exit");
        Assert.Equal(0, exit.Json.GetProperty("rc").GetInt32());
    }
}
