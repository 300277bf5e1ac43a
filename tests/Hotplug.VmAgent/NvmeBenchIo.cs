using System.Diagnostics;
using Hotplug.Dma;
using Hotplug.Nvme;

namespace Hotplug.VmAgent;

/// <summary>
/// The steady-state half of the <c>nvme-bench</c> scenario: 4 KiB random reads on a queue pair through the public
/// batch API (SubmitRead with a tag + ProcessCompletions, polled like SPDK), one 4 KiB slot per tag in one DMA buffer.
/// QD1 latency (also through the async API) and QD-deep IOPS over a fixed time; the kernel side
/// (benchmarks/vm/nvme/nvme-kbench.c) does the same with pread and Linux AIO.
/// </summary>
internal sealed class NvmeBenchIo(DmaAllocator dma, int depth, int blockSize, ulong blockCount)
{
    public const int IoBytes = 4096;
    private readonly Random _rng = new(7);

    /// <summary>One 4 KiB slot per tag.</summary>
    public DmaBuffer Buffer { get; } = dma.Allocate((ulong)(depth * IoBytes), 4096);

    public int Depth => depth;

    public uint BlocksPerIo => (uint)(IoBytes / blockSize);

    public ulong RandomLba() => (ulong)_rng.NextInt64((long)(blockCount / BlocksPerIo)) * BlocksPerIo;

    public NvmeStatus Submit(NvmeQueuePair qp, int tag) =>
        qp.SubmitRead(RandomLba(), Buffer, (ulong)tag, BlocksPerIo, (ulong)(tag * IoBytes));

    /// <summary>QD1: submit one read, spin on ProcessCompletions until it is done; <paramref name="n"/> samples in µs, sorted (50 warm-up reads first).</summary>
    public double[] LatencyPolled(NvmeQueuePair qp, int n)
    {
        bool done = false;
        NvmeStatus status = default;
        qp.CompletionHandler = (_, s) => { status = s; done = true; };
        var samples = new double[n];
        for (int i = -50; i < n; i++)
        {
            done = false;
            long t0 = Stopwatch.GetTimestamp();
            var s = Submit(qp, 0);
            if (!s.IsSuccess)
                throw new InvalidOperationException($"QD1 submit: {s}");
            while (!done)
                qp.ProcessCompletions(1);
            if (!status.IsSuccess)
                throw new InvalidOperationException($"QD1 read: {status}");
            if (i >= 0)
                samples[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
        }
        qp.CompletionHandler = null;
        Array.Sort(samples);
        return samples;
    }

    /// <summary>QD1 through <c>ReadAsync</c> (submit, then poll with a yield between polls).</summary>
    public async Task<double[]> LatencyAsync(NvmeQueuePair qp, int n)
    {
        var samples = new double[n];
        for (int i = -50; i < n; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            var s = await qp.ReadAsync(RandomLba(), Buffer, BlocksPerIo, 0);
            if (!s.IsSuccess)
                throw new InvalidOperationException($"async QD1 read: {s}");
            if (i >= 0)
                samples[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
        }
        Array.Sort(samples);
        return samples;
    }

    /// <summary>Keeps <see cref="Depth"/> reads in flight for <paramref name="ms"/> ms (after 200 ms of warm-up); returns the reads completed and the seconds counted.</summary>
    public (long Ops, long Errors, double Seconds) Iops(NvmeQueuePair qp, int ms)
    {
        var free = new Stack<int>();
        long ops = 0, errors = 0;
        bool counting = false;
        qp.CompletionHandler = (tag, s) =>
        {
            if (!s.IsSuccess) errors++;
            else if (counting) ops++;
            free.Push((int)tag);
        };
        for (int t = 0; t < depth; t++)
            free.Push(t);
        var sw = Stopwatch.StartNew();
        TimeSpan start = TimeSpan.FromMilliseconds(200), end = start + TimeSpan.FromMilliseconds(ms);
        while (true)
        {
            var now = sw.Elapsed;
            if (!counting && now >= start) { counting = true; start = now; end = now + TimeSpan.FromMilliseconds(ms); }
            if (now >= end) break;
            while (free.Count > 0)
            {
                var s = Submit(qp, free.Peek());
                if (!s.IsSuccess)
                    throw new InvalidOperationException($"QD{depth} submit: {s}");
                free.Pop();
            }
            qp.ProcessCompletions(depth);
        }
        double secs = (sw.Elapsed - start).TotalSeconds;
        while (qp.Outstanding > 0)
            qp.ProcessCompletions(depth);
        qp.CompletionHandler = null;
        return (ops, errors, secs);
    }

    public static void EmitLatency(string type, double[] s) =>
        Report.Emit(type, w =>
        {
            w.WriteString("side", "ours");
            w.WriteNumber("n", s.Length);
            w.WriteNumber("mean_us", Math.Round(s.Average(), 1));
            w.WriteNumber("p50_us", Math.Round(s[s.Length / 2], 1));
            w.WriteNumber("p99_us", Math.Round(s[(int)(s.Length * 0.99)], 1));
            w.WriteNumber("max_us", Math.Round(s[^1], 1));
        });
}
