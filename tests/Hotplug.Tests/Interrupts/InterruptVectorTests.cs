using System.Diagnostics;
using Hotplug.Interrupts;
using Hotplug.Loop;
using Hotplug.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Interrupts;

/// <summary>InterruptVector and InterruptSet on the real event loop, with eventfds the test writes.</summary>
public sealed class InterruptVectorTests(ITestOutputHelper output) : InterruptSetTestBase(output)
{
    [Fact]
    public async Task WaitAsync_completes_when_the_eventfd_is_written_with_the_count()
    {
        var v = Set.Enable(InterruptKind.MsiX, 2)[1];
        Assert.Equal(1, v.Index);
        Assert.Equal(InterruptKind.MsiX, v.Kind);

        var wait = v.WaitAsync();
        Assert.False(wait.IsCompleted);
        Backend.Fire(1, 3);
        var r = await wait.AsTask().WaitAsync(Timeout);
        Assert.Equal(InterruptWait.Fired(3), r);
        Assert.True(r.IsFired);
    }

    [Fact]
    public async Task Fires_between_waits_are_counted_and_the_next_wait_completes_at_once()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        var first = v.WaitAsync();
        Backend.Fire(0);
        Assert.Equal(1ul, (await first.AsTask().WaitAsync(Timeout)).Count);

        Backend.Fire(0, 2);
        Assert.True(Loop.Flush(Timeout));
        Backend.Fire(0, 5);
        Assert.True(Loop.Flush(Timeout));
        var next = v.WaitAsync();
        Assert.True(next.IsCompletedSuccessfully);
        Assert.Equal(InterruptWait.Fired(7), await next);
    }

    [Fact]
    public async Task Fires_before_the_first_wait_stay_in_the_eventfd_and_are_not_lost()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        Backend.Fire(0, 4);
        var r = await v.WaitAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(InterruptWait.Fired(4), r);
    }

    [Fact]
    public async Task A_second_concurrent_wait_throws()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        var pending = v.WaitAsync();
        Assert.Throws<InvalidOperationException>(() => v.WaitAsync());
        Backend.Fire(0);
        await pending.AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public void The_callback_runs_on_the_event_thread_with_the_count()
    {
        var v = Set.Enable(InterruptKind.MsiX, 1)[0];
        using var got = new ManualResetEventSlim();
        bool onEventThread = false;
        ulong count = 0;
        InterruptVector? seen = null;
        using var sub = v.OnInterrupt((vector, n) =>
        {
            onEventThread = Loop.IsEventThread;
            seen = vector;
            count = n;
            got.Set();
        });
        Backend.Fire(0, 2);
        Assert.True(got.Wait(Timeout));
        Assert.True(onEventThread);
        Assert.Same(v, seen);
        Assert.Equal(2ul, count);
    }

    [Fact]
    public void After_the_callback_is_disposed_it_is_not_called_and_another_may_be_set()
    {
        var v = Set.Enable(InterruptKind.MsiX, 1)[0];
        int calls = 0;
        var sub = v.OnInterrupt((_, _) => Interlocked.Increment(ref calls));
        Assert.Throws<InvalidOperationException>(() => v.OnInterrupt((_, _) => { }));
        sub.Dispose();
        Backend.Fire(0);
        Assert.True(Loop.Flush(Timeout));
        Assert.Equal(0, Volatile.Read(ref calls));

        using var got = new ManualResetEventSlim();
        ulong count = 0;
        using var again = v.OnInterrupt((_, n) => { count = n; got.Set(); });
        Assert.True(got.Wait(Timeout)); // the fire while nobody listened was kept in the eventfd
        Assert.Equal(1ul, count);
    }

    [Fact]
    public void The_raw_eventfd_is_a_duplicate_the_app_reads_and_nothing_else_does()
    {
        var v = Set.Enable(InterruptKind.MsiX, 1)[0];
        int fd = v.TakeEventFd();
        try
        {
            Assert.Throws<InvalidOperationException>(() => v.TakeEventFd());
            Backend.Fire(0, 6);
            Assert.True(Loop.Flush(Timeout));
            Assert.Equal(6ul, TestFds.PollAndReadEventFd(fd));
            Assert.True(TestFds.IsCloseOnExec(fd));
        }
        finally
        {
            TestFds.Close(fd);
        }
    }

    [Fact]
    public void Choosing_a_second_way_to_consume_a_vector_throws()
    {
        var vs = Set.Enable(InterruptKind.MsiX, 3);
        _ = vs[0].WaitAsync();
        Assert.Throws<InvalidOperationException>(() => vs[0].OnInterrupt((_, _) => { }));
        Assert.Throws<InvalidOperationException>(() => vs[0].TakeEventFd());

        using var sub = vs[1].OnInterrupt((_, _) => { });
        Assert.Throws<InvalidOperationException>(() => vs[1].WaitAsync());
        Assert.Throws<InvalidOperationException>(() => vs[1].TakeEventFd());

        TestFds.Close(vs[2].TakeEventFd());
        Assert.Throws<InvalidOperationException>(() => vs[2].WaitAsync());
        Assert.Throws<InvalidOperationException>(() => vs[2].OnInterrupt((_, _) => { }));
    }

    [Fact]
    public async Task DeviceGone_completes_a_pending_wait_at_once_and_every_later_wait()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        var pending = v.WaitAsync();
        var sw = Stopwatch.StartNew();
        Set.DeviceGone();
        var r = await pending.AsTask().WaitAsync(Timeout);
        Assert.Equal(InterruptWait.DeviceRemoved, r);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"took {sw.Elapsed}");

        var later = v.WaitAsync();
        Assert.True(later.IsCompletedSuccessfully);
        Assert.Equal(InterruptWaitStatus.DeviceRemoved, (await later).Status);
        Assert.False(v.IsActive);
        Assert.True(Set.IsGone);
        Assert.Empty(Set.Vectors);
        Assert.Equal(1, Backend.DisableCalls);
        Assert.True(Backend.SourceClosed(0));
        Assert.Throws<InvalidOperationException>(() => Set.Enable(InterruptKind.Msi, 1));
    }

    [Fact]
    public async Task DeviceGone_does_not_throw_when_the_backend_cannot_disarm_and_is_idempotent()
    {
        Backend.DisableThrows = true;
        var v = Set.Enable(InterruptKind.Intx, 1)[0];
        var pending = v.WaitAsync();
        Set.DeviceGone();
        Set.DeviceGone();
        Set.Disable();
        Assert.Equal(InterruptWait.DeviceRemoved, await pending.AsTask().WaitAsync(Timeout));
        Assert.Equal(1, Backend.DisableCalls);
        v.Acknowledge(); // a no-op now, never a throw
        Assert.Empty(Backend.Unmasked);
    }

    [Fact]
    public async Task DeviceGone_from_the_event_thread_completes_the_wait()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        var pending = v.WaitAsync();
        Loop.Post(Set.DeviceGone);
        Assert.Equal(InterruptWait.DeviceRemoved, await pending.AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Disable_ends_waits_with_Disabled_and_the_set_can_be_enabled_again()
    {
        var v = Set.Enable(InterruptKind.MsiX, 2)[0];
        var pending = v.WaitAsync();
        Set.Disable();
        Assert.Equal(InterruptWait.Disabled, await pending.AsTask().WaitAsync(Timeout));
        Assert.Equal(InterruptWait.Disabled, await v.WaitAsync());
        Assert.Throws<InvalidOperationException>(() => v.TakeEventFd());

        var again = Set.Enable(InterruptKind.Msi, 1)[0];
        Assert.True(again.IsActive);
        var wait = again.WaitAsync();
        Backend.Fire(0);
        Assert.Equal(InterruptWait.Fired(1), await wait.AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Enabling_twice_without_disabling_throws()
    {
        Set.Enable(InterruptKind.MsiX, 1);
        Assert.Throws<InvalidOperationException>(() => Set.Enable(InterruptKind.Msi, 1));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task A_cancelled_wait_throws_and_the_next_wait_works()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        using var cts = new CancellationTokenSource();
        var pending = v.WaitAsync(cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.AsTask().WaitAsync(Timeout));

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => v.WaitAsync(cancelled.Token).AsTask());

        var next = v.WaitAsync(CancellationToken.None);
        Backend.Fire(0);
        Assert.Equal(InterruptWait.Fired(1), await next.AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_cancellation_after_the_wait_completed_does_not_touch_the_next_wait()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        using var cts = new CancellationTokenSource();
        var first = v.WaitAsync(cts.Token);
        Backend.Fire(0);
        Assert.True((await first.AsTask().WaitAsync(Timeout)).IsFired);
        var second = v.WaitAsync();
        cts.Cancel();
        Backend.Fire(0);
        Assert.Equal(InterruptWait.Fired(1), await second.AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public void Acknowledge_reaches_the_backend_with_the_vector_index()
    {
        var vs = Set.Enable(InterruptKind.MsiX, 3);
        vs[2].Acknowledge();
        vs[0].Acknowledge();
        Assert.Equal([2, 0], Backend.Unmasked);
    }

    [Fact]
    public async Task Starting_a_wait_does_not_allocate_in_steady_state()
    {
        var v = Set.Enable(InterruptKind.Msi, 1)[0];
        for (int i = 0; i < 50; i++) // warm up: tiering, the thread pool
            await FireAndWait(v);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var w = v.WaitAsync();
        long after = GC.GetAllocatedBytesForCurrentThread();
        Backend.Fire(0);
        Assert.True((await w.AsTask().WaitAsync(Timeout)).IsFired);
        Assert.Equal(0, after - before);
    }

    private async Task FireAndWait(InterruptVector v)
    {
        var w = v.WaitAsync();
        Backend.Fire(0);
        Assert.True((await w).IsFired);
    }
}
