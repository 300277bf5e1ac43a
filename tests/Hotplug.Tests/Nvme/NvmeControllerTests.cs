using Hotplug.Dma;
using Hotplug.Nvme;
using Hotplug.Tests.Dma;
using Hotplug.Tests.Pci;

namespace Hotplug.Tests.Nvme;

/// <summary>The NVMe driver against <see cref="FakeNvmeController"/> on a simulated device (the real controller is in the Vm tier).</summary>
public sealed class NvmeControllerTests(ITestOutputHelper output) : PciBusTestBase(output)
{
    private const int Blocks = 4096;
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(5);

    private (NvmeDriver Driver, PciDevice Device, DmaAllocator Dma, FakeNvmeController Fake) Setup(bool handling = false)
    {
        var sim = _sim.AddDevice(A, 0x1b36, 0x0010, [16384], classCode: NvmeDriver.NvmeClassCode);
        var eal = NewEal();
        var driver = new NvmeDriver();
        eal.Pci().RegisterDriver(driver);
        if (handling)
            eal.EnableHotplugHandling(); // a pulled BAR raises a real SIGBUS: the shim must catch it
        eal.Scan();
        var dev = (PciDevice)eal.HotplugAdd("pci", A);
        var dma = DmaAllocatorTests.Create(new TestDmaMapper());
        return (driver, dev, dma, new FakeNvmeController(sim, dma, Blocks));
    }

    private static void Pattern(Span<byte> s, int seed)
    {
        for (int i = 0; i < s.Length; i++) s[i] = (byte)(i * 7 + seed + (i >> 9));
    }

    [Fact]
    public async Task Attach_identifies_and_reads_back_what_it_wrote_through_prp1_prp2_and_prp_lists()
    {
        var (driver, dev, dma, fake) = Setup();
        using var _ = fake;
        using var ctrl = NvmeController.Attach(dev, dma);
        Assert.Same(ctrl, driver.ControllerOf(dev));
        Assert.Equal(("Fake NVMe", "FAKE0001", "1.0", 1u, 128 * 1024), (ctrl.Model, ctrl.Serial, ctrl.Firmware, ctrl.NamespaceCount, ctrl.MaxTransferBytes));
        var ns = ctrl.Namespace(1);
        Assert.Equal((Blocks, 512), ((int)ns.BlockCount, ns.BlockSize));
        using var qp = ctrl.CreateQueuePair();
        using var src = dma.Allocate(128 * 1024, 4096);
        using var dst = dma.Allocate(128 * 1024, 4096);
        // one block in one page; 8 blocks at offset 512 (PRP1 + PRP2); 64 KiB at offset 1024 (a PRP list)
        foreach (var (lba, blocks, offset) in new[] { (3UL, 1u, 0UL), (100UL, 8u, 512UL), (1000UL, 128u, 1024UL) })
        {
            int bytes = (int)blocks * 512;
            Pattern(src.AsSpan().Slice((int)offset, bytes), (int)lba);
            Assert.Equal(NvmeStatus.Success, await qp.WriteAsync(lba, src, blocks, offset));
            dst.AsSpan().Clear();
            Assert.Equal(NvmeStatus.Success, await qp.ReadAsync(lba, dst, blocks, offset));
            Assert.True(src.AsSpan().Slice((int)offset, bytes).SequenceEqual(dst.AsSpan().Slice((int)offset, bytes)));
            Assert.True(src.AsSpan().Slice((int)offset, bytes).SequenceEqual(fake.Disk.AsSpan((int)lba * 512, bytes)));
        }
        Assert.Equal(NvmeStatus.Success, await qp.FlushAsync());
    }

    [Fact]
    public void The_batch_api_completes_through_the_handler_and_reports_a_full_queue()
    {
        var (_, dev, dma, fake) = Setup();
        using var __ = fake;
        using var ctrl = NvmeController.Attach(dev, dma);
        using var qp = ctrl.CreateQueuePair(depth: 4);
        using var buf = dma.Allocate(4096, 4096);
        var done = new List<(ulong, NvmeStatus)>();
        qp.CompletionHandler = (tag, s) => done.Add((tag, s));
        fake.Paused = true;
        for (ulong t = 0; t < 3; t++)
            Assert.Equal(NvmeStatus.Success, qp.SubmitWrite(t * 8, buf, t));
        Assert.Equal(NvmeStatus.QueueFull, qp.SubmitWrite(100, buf, 9));
        fake.Paused = false;
        var deadline = DateTime.UtcNow + Soon;
        while (done.Count < 3 && DateTime.UtcNow < deadline)
            qp.ProcessCompletions(2);
        Assert.Equal([0UL, 1UL, 2UL], done.Select(d => d.Item1).Order());
        Assert.All(done, d => Assert.True(d.Item2.IsSuccess));
        Assert.Equal(0, qp.Outstanding);
    }

    [Fact]
    public void Bad_requests_throw_and_send_nothing()
    {
        var (_, dev, dma, fake) = Setup();
        using var __ = fake;
        using var ctrl = NvmeController.Attach(dev, dma);
        using var qp = ctrl.CreateQueuePair();
        using var buf = dma.Allocate(4096, 4096);
        using var otherDma = DmaAllocatorTests.Create(new TestDmaMapper());
        using var foreign = otherDma.Allocate(4096, 4096);
        var gone = dma.Allocate(4096, 4096);
        gone.Dispose();
        int before = fake.IoCommands;
        Assert.Throws<ArgumentOutOfRangeException>(() => ctrl.Namespace(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ctrl.Namespace(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => qp.ReadAsync(Blocks - 4, buf));
        Assert.Throws<ArgumentOutOfRangeException>(() => qp.SubmitWrite(Blocks, buf, 0, 1));
        Assert.Throws<ArgumentException>(() => qp.ReadAsync(0, buf, 9));
        Assert.Throws<ArgumentException>(() => qp.ReadAsync(0, buf, 0, 100));
        Assert.Throws<ArgumentException>(() => qp.ReadAsync(0, buf, 1, 2));
        Assert.Throws<ArgumentException>(() => qp.ReadAsync(0, foreign, 1));
        Assert.Throws<ObjectDisposedException>(() => qp.ReadAsync(0, gone, 1));
        Assert.Equal(before, fake.IoCommands);
        Assert.Equal(0, qp.Outstanding);
    }

    [Fact]
    public async Task OnRemoved_completes_every_outstanding_command_at_once_and_later_ones_fail_the_same_way()
    {
        var (_, dev, dma, fake) = Setup();
        using var __ = fake;
        using var ctrl = NvmeController.Attach(dev, dma);
        using var qp1 = ctrl.CreateQueuePair();
        using var qp2 = ctrl.CreateQueuePair();
        using var buf = dma.Allocate(8192, 4096);
        fake.Paused = true; // the controller never answers
        var reads = new[] { qp1.ReadAsync(0, buf, 1).AsTask(), qp2.ReadAsync(8, buf, 1, 4096).AsTask() };
        var batch = new List<NvmeStatus>();
        qp2.CompletionHandler = (_, s) => batch.Add(s);
        Assert.Equal(NvmeStatus.Success, qp2.SubmitWrite(16, buf, 5, 1));
        await Task.Delay(20);
        Assert.All(reads, r => Assert.False(r.IsCompleted));
        ctrl.OnRemoved();
        foreach (var r in reads)
            Assert.Equal(NvmeStatus.ControllerRemoved, await r.WaitAsync(Soon));
        Assert.Equal([NvmeStatus.ControllerRemoved], batch);
        Assert.Equal(NvmeStatus.ControllerRemoved, await qp1.WriteAsync(0, buf, 1));
        Assert.Equal(NvmeStatus.ControllerRemoved, qp1.SubmitRead(0, buf, 1, 1));
        Assert.True(ctrl.IsRemoved);
    }

    [Fact]
    public async Task A_csts_that_reads_all_ones_is_noticed_by_the_poll_and_nothing_is_taken_as_success()
    {
        var (_, dev, dma, fake) = Setup();
        using var __ = fake;
        using var ctrl = NvmeController.Attach(dev, dma);
        using var qp = ctrl.CreateQueuePair();
        using var buf = dma.Allocate(4096, 4096);
        fake.Paused = true;
        var read = qp.ReadAsync(0, buf, 1).AsTask();
        _sim.Devices[0].WriteRegister32(0, 0x1C, 0xFFFFFFFF);
        Assert.Equal(NvmeStatus.ControllerRemoved, await read.WaitAsync(Soon));
    }

    [Fact]
    public async Task Quiesce_shuts_the_controller_down_and_a_new_controller_on_the_same_allocator_reads_the_data_back()
    {
        var (driver, dev, dma, fake) = Setup();
        using var __ = fake;
        var ctrl = NvmeController.Attach(dev, dma);
        var qp = ctrl.CreateQueuePair();
        using var buf = dma.Allocate(4096, 4096);
        Pattern(buf.AsSpan(), 42);
        Assert.Equal(NvmeStatus.Success, await qp.WriteAsync(64, buf));
        driver.Quiesce(dev);
        Assert.True(ctrl.LastShutdown is { Completed: true });
        Assert.Equal(1u, (_sim.Devices[0].ReadRegister32(0, 0x14) >> 14) & 3); // CC.SHN = 01 (normal shutdown)
        Assert.Equal(NvmeStatus.ControllerRemoved, await qp.ReadAsync(64, buf));
        driver.Remove(dev);
        qp.Dispose();
        ctrl.Dispose();

        using var again = NvmeController.Attach(dev, dma);
        using var qp2 = again.CreateQueuePair();
        using var back = dma.Allocate(4096, 4096);
        Assert.Equal(NvmeStatus.Success, await qp2.ReadAsync(64, back));
        Assert.True(buf.AsSpan().SequenceEqual(back.AsSpan()));
    }

    [Fact]
    public void A_controller_that_never_becomes_ready_fails_the_attach_after_cap_to_with_a_clear_error()
    {
        var (_, dev, dma, fake) = Setup();
        using var __ = fake;
        fake.NeverReady = true;
        var e = Assert.Throws<NvmeException>(() => NvmeController.Attach(dev, dma)); // the fake's CAP.TO is 1 s
        Assert.Contains("CSTS.RDY did not become 1 within CAP.TO (1000 ms) during enable", e.Message);
        Assert.Contains(A, e.Message);
    }

    [Fact]
    public void A_removal_in_the_middle_of_initialisation_ends_the_attach_at_once_with_ControllerRemoved()
    {
        var (_, dev, dma, fake) = Setup(handling: true);
        using var __ = fake;
        fake.NeverReady = true; // the attach waits for RDY...
        NvmeException? error = null;
        var attach = new Thread(() =>
        {
            try { NvmeController.Attach(dev, dma).Dispose(); }
            catch (NvmeException e) { error = e; }
        });
        attach.Start();
        Assert.True(fake.EnableSeen.Wait(Soon), "the attach never enabled the controller");
        _sim.Devices[0].Remove(); // ...when the controller goes: its BAR memory with it (a real SIGBUS on the next read)
        Assert.True(attach.Join(Soon), "the attach hung");
        Assert.NotNull(error);
        Assert.Equal(NvmeStatus.ControllerRemoved, error.Status); // not the CAP.TO timeout
        Assert.Contains("the controller is gone", error.Message);
    }

    [Fact]
    public void Attach_turns_bus_mastering_on_itself()
    {
        var (_, dev, dma, fake) = Setup();
        using var __ = fake;
        ushort command = dev.Config.Read16(PciConfigSpace.CommandOffset);
        dev.Config.Write16(PciConfigSpace.CommandOffset, (ushort)(command & ~PciConfigSpace.CommandBusMaster)); // a re-added function
        using var ctrl = NvmeController.Attach(dev, dma);
        Assert.NotEqual(0, dev.Config.Read16(PciConfigSpace.CommandOffset) & PciConfigSpace.CommandBusMaster);
    }
}
