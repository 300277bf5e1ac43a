using Hotplug.Interrupts;
using Hotplug.Loop;
using Hotplug.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Interrupts;

/// <summary>InterruptVector.Wait: a data-path thread blocks on the vector's own fd, and a removal still wakes it.</summary>
public sealed class BlockingWaitTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly ILoggerFactory _loggers;
    private readonly EventLoop _loop;
    private readonly TestInterruptBackend _backend = new();
    private readonly InterruptSet _set;

    public BlockingWaitTests(ITestOutputHelper output)
    {
        _loggers = XunitLoggerFactory.Create(output);
        _loop = new EventLoop(_loggers.CreateLogger("loop"));
        _set = new InterruptSet(_loop, _backend, _loggers.CreateLogger("interrupts"));
    }

    public void Dispose()
    {
        _set.Dispose();
        _loop.Dispose();
        _loggers.Dispose();
    }

    [Fact]
    public async Task Wait_returns_the_count_when_the_fd_is_written_from_another_thread()
    {
        var v = _set.Enable(InterruptKind.Msi, 1)[0];
        var waiting = Task.Run(() => v.Wait(Timeout));
        await Task.Delay(50);
        _backend.Fire(0, 2);
        Assert.Equal(InterruptWait.Fired(2), await waiting.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_removal_wakes_a_blocked_wait_with_device_removed_and_later_waits_end_at_once()
    {
        var v = _set.Enable(InterruptKind.MsiX, 1)[0];
        var waiting = Task.Run(() => v.Wait(System.Threading.Timeout.InfiniteTimeSpan));
        await Task.Delay(50);
        _set.DeviceGone();
        Assert.Equal(InterruptWait.DeviceRemoved, await waiting.WaitAsync(Timeout));
        Assert.Equal(InterruptWait.DeviceRemoved, v.Wait(Timeout));
    }

    [Fact]
    public void A_wait_with_nothing_coming_times_out()
    {
        var v = _set.Enable(InterruptKind.Intx, 1)[0];
        Assert.Equal(InterruptWait.TimedOut, v.Wait(TimeSpan.FromMilliseconds(20)));
    }

    [Fact]
    public void Mixing_the_blocking_wait_with_wait_async_is_refused()
    {
        var v = _set.Enable(InterruptKind.Msi, 1)[0];
        Assert.Equal(InterruptWait.TimedOut, v.Wait(TimeSpan.FromMilliseconds(1)));
        Assert.Throws<InvalidOperationException>(() => { _ = v.WaitAsync(); });
    }

    [Fact]
    public async Task Disabling_wakes_a_blocked_wait_with_disabled()
    {
        var v = _set.Enable(InterruptKind.Msi, 1)[0];
        var waiting = Task.Run(() => v.Wait(Timeout));
        await Task.Delay(50);
        _set.Disable();
        Assert.Equal(InterruptWait.Disabled, await waiting.WaitAsync(Timeout));
    }
}
