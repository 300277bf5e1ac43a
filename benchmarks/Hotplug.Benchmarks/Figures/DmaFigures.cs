using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hotplug.Benchmarks.Dma;
using Hotplug.Dma;
using Hotplug.Interrupts;
using Hotplug.Loop;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotplug.Benchmarks.Figures;

/// <summary>
/// The "dma" group (issue 12 item 7): interrupt -> managed waiter, and the DMA fast paths.
/// <list type="bullet">
/// <item><c>irq_wait_vs_c</c>: an <see cref="InterruptVector.WaitAsync"/> pending (real InterruptSet and
/// EventLoop, a backend on a real eventfd); another thread stamps CLOCK_MONOTONIC and writes the eventfd; the
/// awaiting continuation stamps again. Sample = the difference. C: a thread blocked in epoll_wait on an eventfd,
/// woken the same way (baseline/irqwait.c). Event thread / C waiter on CPU 0, writer on the last CPU.</item>
/// <item><c>dma_pool_rent_return</c>, <c>dma_iova_of</c>, <c>dma_allocate_dispose_2k</c>: sample = the time of
/// 1,000 operations (so "µs" read as ns per operation), against the C floors of baseline/dma.c.</item>
/// </list>
/// </summary>
public static partial class DmaFigures
{
    private const int Batch = 10_000;

    public static IEnumerable<FigureResult> Run(FigureOptions o)
    {
        if (Stopwatch.Frequency != 1_000_000_000)
            throw new InvalidOperationException("Stopwatch ticks are not nanoseconds on this platform.");
        int irqN = 2000 * o.Scale / o.Rounds;
        var irqOurs = new Samples();
        var irqCallback = new Samples();
        var irqBlocking = new Samples();
        var irqC = new Samples();
        for (int r = 0; r < o.Rounds; r++)
        {
            irqC.AddRange(Baseline.Run(o.BinDir, "irqwait", irqN.ToString(CultureInfo.InvariantCulture)));
            Interrupts(irqN, o.Pin, irqOurs, irqCallback, irqBlocking);
        }
        Log.Info($"irq_wait: WaitAsync continuation {FigureResult.Fmt(irqOurs.MedianUs)} us, OnInterrupt callback {FigureResult.Fmt(irqCallback.MedianUs)} us, C epoll_wait {FigureResult.Fmt(irqC.MedianUs)} us (medians)");
        yield return new FigureResult("irq_wait_vs_c", irqOurs, irqC, "<= 1.2x", "C: thread blocked in epoll_wait on an eventfd, another writes it",
            "ours: event thread reads the eventfd, completes the ValueTask; the continuation runs on a thread-pool thread (a second wake-up)");
        yield return new FigureResult("irq_blocking_wait_vs_c", irqBlocking, irqC, "<= 1.2x", "C: thread blocked in epoll_wait on an eventfd, another writes it",
            "ours: InterruptVector.Wait, a thread blocked in poll() on the vector's own eventfd (and its end eventfd)");
        yield return new FigureResult("info_irq_callback_vs_c", irqCallback, irqC, "-", "C: thread blocked in epoll_wait on an eventfd, another writes it",
            "ours: OnInterrupt callback on the event thread (one wake-up, like the C side)", Primary: false);

        int n = 300 * o.Scale / o.Rounds;
        string sN = n.ToString(CultureInfo.InvariantCulture), sB = Batch.ToString(CultureInfo.InvariantCulture);
        var pool = new Samples();
        var iova = new Samples();
        var alloc = new Samples();
        var poolC = new Samples();
        var iovaC = new Samples();
        var allocC = new Samples();
        long poolBytes = 0, iovaBytes = 0;
        for (int r = 0; r < o.Rounds; r++)
        {
            poolC.AddRange(Baseline.Run(o.BinDir, "dma", "pool", sN, sB));
            iovaC.AddRange(Baseline.Run(o.BinDir, "dma", "iova", sN, sB));
            allocC.AddRange(Baseline.Run(o.BinDir, "dma", "alloc", sN, sB));
            using var split = CpuSplit.Begin(o.Pin);
            split.DataPath();
            using var a = BenchDmaMapper.NewAllocator();
            using (var p = a.CreatePool(2048, 64))
            {
                poolBytes = Measure(n, () => RentReturn(p, Batch), pool);
                using var b = a.Allocate(2048);
                iovaBytes = Measure(n, () => IovaOf(b, Batch), iova);
            }
            Measure(n, () => AllocateDispose(a, Batch), alloc);
        }
        string pa = $"{poolBytes} bytes allocated per Rent+Return";
        Log.Info($"dma: Rent+Return {FigureResult.Fmt(pool.MedianUs)} ns (C {FigureResult.Fmt(poolC.MedianUs)}), IovaOf {FigureResult.Fmt(iova.MedianUs)} ns (C {FigureResult.Fmt(iovaC.MedianUs)}), Allocate+Dispose 2 KiB {FigureResult.Fmt(alloc.MedianUs)} ns (C {FigureResult.Fmt(allocC.MedianUs)}); {pa}, {iovaBytes} per IovaOf");
        yield return new FigureResult("dma_pool_rent_return", pool, poolC, "0 allocations",
            "C: pop + push of a mutex-protected LIFO free list", $"µs columns = ns per Rent+Return pair (2 KiB buffers, 4 KiB pages); {pa}");
        yield return new FigureResult("dma_iova_of", iova, iovaC, "-", "C: bounds-checked base + offset",
            $"µs columns = ns per IovaOf; {iovaBytes} bytes allocated per call");
        yield return new FigureResult("dma_allocate_dispose_2k", alloc, allocC, "-", "C: aligned_alloc(64, 2048) + memset + free",
            "µs columns = ns per Allocate(2048) + Dispose (zeroed, first-fit in a 2 MiB chunk of 4 KiB pages)");
    }

    private static void Interrupts(int n, bool pin, Samples wait, Samples callback, Samples blocking)
    {
        using var split = CpuSplit.Begin(pin);
        using var loop = new EventLoop(NullLogger.Instance); // the event thread starts on CPU 0
        var backend = new BenchInterruptBackend();
        using var set = new InterruptSet(loop, backend, NullLogger.Instance);
        var vectors = set.Enable(InterruptKind.MsiX, 3);
        int warm = Math.Max(100, n / 10);
        // Wait: a thread of its own blocked on the vector's fd, started here so it runs on CPU 0 like the C waiter.
        using var blockArmed = new SemaphoreSlim(0);
        using var blockWoken = new SemaphoreSlim(0);
        long blockWoke = 0;
        var blocker = new Thread(() =>
        {
            for (int i = 0; i < warm + n; i++)
            {
                blockArmed.Release();
                var r = vectors[2].Wait(Timeout.InfiniteTimeSpan);
                Volatile.Write(ref blockWoke, BusHost.MonotonicNs());
                if (r.Status != InterruptWaitStatus.Fired)
                    throw new InvalidOperationException($"wait ended with {r.Status}");
                blockWoken.Release();
            }
        }) { IsBackground = true, Name = "bench-blocking-wait" };
        blocker.Start();
        split.DataPath(); // the writer ("the device") on the last CPU

        // WaitAsync: a consumer loop on the thread pool; it says when its wait is pending, stamps on wake-up.
        using var armed = new SemaphoreSlim(0);
        using var woken = new SemaphoreSlim(0);
        long woke = 0;
        var consumer = Consume(vectors[0], warm + n, armed, woken, () => Volatile.Write(ref woke, BusHost.MonotonicNs()));
        for (int i = -warm; i < n; i++)
        {
            armed.Wait();
            usleep(20); // as the C writer: let the waiters block again
            long t0 = BusHost.MonotonicNs();
            backend.Fire(0);
            woken.Wait();
            if (i >= 0)
                wait.Add(Volatile.Read(ref woke) - t0);
        }
        consumer.GetAwaiter().GetResult();

        for (int i = -warm; i < n; i++)
        {
            blockArmed.Wait();
            usleep(20); // let the waiter block in poll() again
            long t0 = BusHost.MonotonicNs();
            backend.Fire(2);
            blockWoken.Wait();
            if (i >= 0)
                blocking.Add(Volatile.Read(ref blockWoke) - t0);
        }
        blocker.Join();

        // OnInterrupt: the callback runs on the event thread itself.
        using var fired = new SemaphoreSlim(0);
        long called = 0;
        using (vectors[1].OnInterrupt((_, _) =>
        {
            Volatile.Write(ref called, BusHost.MonotonicNs());
            fired.Release();
        }))
        {
            for (int i = -warm; i < n; i++)
            {
                usleep(20);
                long t0 = BusHost.MonotonicNs();
                backend.Fire(1);
                fired.Wait();
                if (i >= 0)
                    callback.Add(Volatile.Read(ref called) - t0);
            }
        }
    }

    private static async Task Consume(InterruptVector v, int count, SemaphoreSlim armed, SemaphoreSlim woken, Action stamp)
    {
        await Task.Yield();
        for (int i = 0; i < count; i++)
        {
            var w = v.WaitAsync();
            armed.Release(); // pending now: the next write completes it
            var result = await w;
            stamp();
            if (result.Status != InterruptWaitStatus.Fired)
                throw new InvalidOperationException($"wait ended with {result.Status}");
            woken.Release();
        }
    }

    [LibraryImport("libc")]
    private static partial int usleep(uint microseconds);

    /// <summary>Runs warm-up, then <paramref name="samples"/> timed batches; returns bytes allocated per operation.</summary>
    private static long Measure(int samples, Func<long> batch, Samples into)
    {
        long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 5; // past tier-0 and OSR
        while (Stopwatch.GetTimestamp() < until)
            batch();
        long before = GC.GetAllocatedBytesForCurrentThread();
        batch();
        long perOp = (GC.GetAllocatedBytesForCurrentThread() - before) / Batch;
        for (int s = 0; s < samples; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            batch();
            into.Add((Stopwatch.GetTimestamp() - t0) * 1000 / Batch);
        }
        return perOp;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long RentReturn(DmaPool pool, int ops)
    {
        long sink = 0;
        for (int i = 0; i < ops; i++)
        {
            var b = pool.Rent();
            sink += b.Pointer;
            pool.Return(b);
        }
        return sink;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long IovaOf(DmaBuffer buffer, int ops)
    {
        ulong sink = 0;
        for (int i = 0; i < ops; i++)
            sink += buffer.IovaOf((ulong)(i & 2047));
        return (long)sink;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long AllocateDispose(DmaAllocator allocator, int ops)
    {
        long sink = 0;
        for (int i = 0; i < ops; i++)
        {
            var b = allocator.Allocate(2048);
            sink += b.Pointer;
            b.Dispose();
        }
        return sink;
    }
}
