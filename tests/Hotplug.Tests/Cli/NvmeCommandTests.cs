using Hotplug.Cli;
using Hotplug.Nvme;
using Hotplug.Tests.Dma;
using Hotplug.Tests.FailSafe;
using Hotplug.Tests.Nvme;
using Hotplug.Tests.Pci;

namespace Hotplug.Tests.Cli;

/// <summary>
/// <c>hotplug nvme</c>: the session against <see cref="FakeNvmeController"/> on a simulated function (the real
/// controller runs the same driver in the Vm tier's NvmeTests). The function is pulled (its BAR memory goes: a real
/// SIGBUS; the kernel's remove uevent) and comes back with the same medium; the session must report the removal,
/// re-attach and find every acknowledged chunk intact.
/// </summary>
public sealed class NvmeCommandTests : PciBusTestBase
{
    private readonly ITestOutputHelper _log;

    public NvmeCommandTests(ITestOutputHelper log) : base(log) => _log = log;

    private const int Blocks = 4096;
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_verified_loop_survives_the_controller_going_and_reads_every_acknowledged_chunk_back_after_it_returns()
    {
        var sim = _sim.AddDevice(A, 0x1b36, 0x0010, [16384], classCode: NvmeDriver.NvmeClassCode);
        var eal = NewEal();
        eal.Pci().RegisterDriver(new NvmeDriver());
        eal.EnableHotplugHandling();
        eal.Scan();
        var dma = DmaAllocatorTests.Create(new TestDmaMapper());
        var fake = new FakeNvmeController(sim, dma, Blocks);
        var text = new StringWriter();
        var sync = TextWriter.Synchronized(text);
        var session = new NvmeSession(eal, A, new NvmeSessionOptions { Write = true, Chunks = 16, Cycles = 1 }, sync, _ => dma);
        var run = Task.Factory.StartNew(() => session.Run(CancellationToken.None), TaskCreationOptions.LongRunning);

        Assert.True(SpinWait.SpinUntil(() => fake.IoCommands >= 64 || run.IsCompleted, Bounded), $"no I/O:\n{text}");
        sim.Remove();
        eal.InjectUevent(FailSafeRig.PciUevent("remove", A));
        Assert.True(SpinWait.SpinUntil(() => Printed(sync, text, "waiting for the controller to come back") || run.IsCompleted, Bounded), $"no detach:\n{text}");
        fake.Dispose();

        var back = _sim.AddDevice(A, 0x1b36, 0x0010, [16384], classCode: NvmeDriver.NvmeClassCode);
        using var fake2 = new FakeNvmeController(back, dma, Blocks, fake.Disk);
        eal.InjectUevent(FailSafeRig.PciUevent("add", A));
        eal.InjectUevent(FailSafeRig.PciUevent("bind", A, "DRIVER=uio_pci_generic"));
        int rc = await run.WaitAsync(Bounded);

        string printed = Snapshot(sync, text);
        _log.WriteLine(printed);
        Assert.True(rc == 0, $"exit {rc}:\n{printed}");
        Assert.Contains("Fake NVMe serial FAKE0001", printed);
        Assert.Contains("REMOVE (", printed);
        Assert.Contains("ControllerRemoved", printed);
        Assert.Contains("re-attached in", printed);
        Assert.Matches(@"all \d+ acknowledged chunks read back intact", printed);
        Assert.Contains(", 0 failed verification", printed);
    }

    [Theory]
    [InlineData("not-an-address", 2, "is not a PCI address")]
    [InlineData("0000:07:00.0", 1, "0000:07:00.0")]
    public void A_bad_or_absent_device_is_a_clear_error(string device, int code, string message)
    {
        var error = new StringWriter();
        int rc = NvmeCommand.Run(device, new NvmeSessionOptions(), null, _sim.SysfsRoot, false, TextWriter.Null, error, CancellationToken.None);
        Assert.Equal(code, rc);
        Assert.Contains(message, error.ToString());
        Assert.StartsWith("error: ", error.ToString());
    }

    private static bool Printed(TextWriter sync, StringWriter text, string what) => Snapshot(sync, text).Contains(what, StringComparison.Ordinal);

    private static string Snapshot(TextWriter sync, StringWriter text)
    {
        lock (sync) // TextWriter.Synchronized locks on itself
            return text.ToString();
    }
}
