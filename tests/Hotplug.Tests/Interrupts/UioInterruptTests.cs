using Hotplug.Interop;
using Hotplug.Interrupts;
using Hotplug.Loop;
using Hotplug.Tests.Support;
using Microsoft.Extensions.Logging;
using static Tmds.Linux.LibC;

namespace Hotplug.Tests.Interrupts;

/// <summary>uio-style sources (a 4-byte cumulative count per read) on pipes and FIFOs standing in for /dev/uioN.</summary>
public sealed class UioInterruptTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly ILoggerFactory _loggers;
    private readonly EventLoop _loop;
    private readonly string _dir = Directory.CreateTempSubdirectory("hotplug-uio-irq-").FullName;

    public UioInterruptTests(ITestOutputHelper output)
    {
        _loggers = XunitLoggerFactory.Create(output);
        _loop = new EventLoop(_loggers.CreateLogger("loop"));
    }

    public void Dispose()
    {
        _loop.Dispose();
        _loggers.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_uio_style_source_reports_the_difference_of_the_cumulative_counts()
    {
        var backend = new TestInterruptBackend { UioStyle = true };
        using var set = new InterruptSet(_loop, backend, _loggers.CreateLogger("interrupts"));
        var v = set.Enable(InterruptKind.Uio, 1)[0];

        var first = v.WaitAsync();
        backend.WriteUioCount(0, 41); // the kernel's counter started before our open: the first read counts as 1
        Assert.Equal(InterruptWait.Fired(1), await first.AsTask().WaitAsync(Timeout));

        var second = v.WaitAsync();
        backend.WriteUioCount(0, 44);
        Assert.Equal(InterruptWait.Fired(3), await second.AsTask().WaitAsync(Timeout));

        var wrapped = v.WaitAsync(); // the 32-bit counter wraps
        backend.WriteUioCount(0, uint.MaxValue);
        Assert.Equal(InterruptWait.Fired(uint.MaxValue - 44ul), await wrapped.AsTask().WaitAsync(Timeout));
        var after = v.WaitAsync();
        backend.WriteUioCount(0, 1);
        Assert.Equal(InterruptWait.Fired(2), await after.AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_hung_up_uio_source_stops_being_watched_and_DeviceGone_still_ends_the_wait()
    {
        var backend = new TestInterruptBackend { UioStyle = true };
        using var set = new InterruptSet(_loop, backend, _loggers.CreateLogger("interrupts"));
        var v = set.Enable(InterruptKind.Uio, 1)[0];
        var pending = v.WaitAsync();
        backend.HangUp(0); // EOF + HUP, level-triggered: would spin the event thread if still watched
        Assert.True(_loop.Flush(Timeout));
        Assert.True(_loop.Flush(Timeout));
        Assert.False(pending.IsCompleted);
        set.DeviceGone();
        Assert.Equal(InterruptWait.DeviceRemoved, await pending.AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task uio_pci_generic_interrupts_re_arm_by_clearing_COMMAND_bit_10()
    {
        string node = Fifo();
        ushort command = 0x0507; // INTx disabled by the kernel's handler
        var writes = new List<ushort>();
        var backend = UioInterrupts.ForUioPciGeneric(node, () => command, c => { writes.Add(c); command = c; });
        using var set = new InterruptSet(_loop, backend, _loggers.CreateLogger("interrupts"));
        Assert.Throws<ArgumentException>(() => set.Enable(InterruptKind.Msi, 1));
        var v = set.Enable(InterruptKind.Uio, 1)[0];
        Assert.Equal(InterruptKind.Uio, v.Kind);
        Assert.Equal([(ushort)0x0107], writes); // Enable arms it

        using var writer = Sys.Open(node, O_WRONLY | O_NONBLOCK);
        var wait = v.WaitAsync();
        TestFds.WriteUInt32(writer.Fd, 9);
        Assert.Equal(InterruptWait.Fired(1), await wait.AsTask().WaitAsync(Timeout));

        command = 0x0507; // the handler masked it again
        v.Acknowledge();
        Assert.Equal(0x0107, command);
        v.Acknowledge(); // nothing to clear: no write
        Assert.Equal(2, writes.Count);

        set.Disable();
        Assert.Equal(0x0507, command); // disarmed: INTx-disable set
    }

    [Fact]
    public void igb_uio_interrupts_re_arm_by_writing_1_to_the_node_and_disarm_with_0()
    {
        string node = Fifo();
        using var reader = Sys.Open(node, O_RDONLY | O_NONBLOCK);
        var backend = UioInterrupts.ForIgbUio(node);
        Assert.True(backend.WritesNode);
        using var set = new InterruptSet(_loop, backend, _loggers.CreateLogger("interrupts"));
        Assert.Throws<ArgumentException>(() => set.Enable(InterruptKind.Uio, 2));
        var v = set.Enable(InterruptKind.Uio, 1)[0]; // nothing watches the node before a consumer: the test may read it
        Assert.Equal(1, ReadInt(reader));
        v.Acknowledge();
        Assert.Equal(1, ReadInt(reader));
        set.Disable();
        Assert.Equal(0, ReadInt(reader));
    }

    [Fact]
    public void A_uio_backend_whose_node_vanished_does_not_throw_out_of_DeviceGone()
    {
        string node = Fifo();
        ushort command = 0x0107;
        bool gone = false;
        var backend = UioInterrupts.ForUioPciGeneric(node, () => gone ? throw new IOException("ENODEV") : command, c => command = c);
        using var set = new InterruptSet(_loop, backend, _loggers.CreateLogger("interrupts"));
        var v = set.Enable(InterruptKind.Uio, 1)[0];
        gone = true;
        set.DeviceGone();
        v.Acknowledge();
        Assert.False(v.IsActive);
    }

    private string Fifo()
    {
        string path = Path.Combine(_dir, $"uio{Guid.NewGuid():N}");
        TestFds.MakeFifo(path);
        return path;
    }

    private static int ReadInt(SafeFdHandle fd) => TestFds.ReadInt32(fd.Fd);
}
