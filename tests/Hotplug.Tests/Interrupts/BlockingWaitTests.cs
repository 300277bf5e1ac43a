using Hotplug.Interrupts;
using Hotplug.Loop;
using Hotplug.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Interrupts;

/// <summary>InterruptVector.Wait: a data-path thread blocks on the vector's own fd, and a removal still wakes it.</summary>
public sealed class BlockingWaitTests(ITestOutputHelper output) : InterruptSetTestBase(output)
{
    [Fact]
    public async Task Wait_returns_the_count_when_the_fd_is_written_from_another_thread()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        var waiting = Task.Run(() => v.Wait(Timeout));
        await Task.Delay(50);
        Backend.Fire(0, 2);
        Assert.Equal(InterruptWait.Fired(2), await waiting.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_removal_wakes_a_blocked_wait_with_device_removed_and_later_waits_end_at_once()
    {
        var v = Set.Enable(InterruptKind.MsiX, 1)[0];
        var waiting = Task.Run(() => v.Wait(System.Threading.Timeout.InfiniteTimeSpan));
        await Task.Delay(50);
        Set.DeviceGone();
        Assert.Equal(InterruptWait.DeviceRemoved, await waiting.WaitAsync(Timeout));
        Assert.Equal(InterruptWait.DeviceRemoved, v.Wait(Timeout));
    }

    [Fact]
    public void A_wait_with_nothing_coming_times_out()
    {
        var v = Set.Enable(InterruptKind.Intx, 1)[0];
        Assert.Equal(InterruptWait.TimedOut, v.Wait(TimeSpan.FromMilliseconds(20)));
    }

    [Fact]
    public void Mixing_the_blocking_wait_with_wait_async_is_refused()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        Assert.Equal(InterruptWait.TimedOut, v.Wait(TimeSpan.FromMilliseconds(1)));
        Assert.Throws<InvalidOperationException>(() => { _ = v.WaitAsync(); });
    }

    [Fact]
    public async Task Disabling_wakes_a_blocked_wait_with_disabled()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        var waiting = Task.Run(() => v.Wait(Timeout));
        await Task.Delay(50);
        Set.Disable();
        Assert.Equal(InterruptWait.Disabled, await waiting.WaitAsync(Timeout));
    }
}
