using System.Buffers.Binary;
using System.Diagnostics;
using Hotplug.Dma;
using Hotplug.Nvme;

namespace Hotplug.VmAgent;

/// <summary>
/// One I/O thread of the <c>nvme</c> scenario with its own queue pair over its own LBA range: writes a pattern per
/// block (the LBA and a stamp) and reads it back verified. Worker 0 uses the async API, worker 1 the batch API
/// (Submit + ProcessCompletions). It remembers, per block, the stamp of the last write the controller
/// acknowledged and the stamp of a write still in flight when the controller went.
/// </summary>
internal sealed class NvmeWorker(int index, ulong first, ulong count, DmaAllocator dma, int blockSize)
{
    public const int BigBlocks = 128, SmallBlocks = 8, SmallOffset = 512, Batch = 4;
    private readonly DmaBuffer[] _big = [dma.Allocate(BigBlocks * (ulong)blockSize, 4096), dma.Allocate(BigBlocks * (ulong)blockSize, 4096)];
    private readonly DmaBuffer[] _small = [.. Enumerable.Range(0, Batch).Select(_ => dma.Allocate(SmallBlocks * (ulong)blockSize + SmallOffset + 4096, 4096))];
    private readonly List<double> _latencies = [];
    private ulong _stamp;

    public int Index => index;
    public ulong[] Acked { get; } = new ulong[count];
    public ulong[] Pending { get; } = new ulong[count];
    public long Ops, VerifiedBlocks, Removed, Mismatches;
    public string? Failure;
    public IEnumerable<DmaBuffer> Buffers => _big.Concat(_small);
    public double MeanLatencyMs => _latencies.Count == 0 ? 0 : _latencies.Average();

    public static void Fill(Span<byte> block, ulong lba, ulong stamp)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(block, lba);
        BinaryPrimitives.WriteUInt64LittleEndian(block[8..], stamp);
        for (int i = 16; i < block.Length; i++)
            block[i] = (byte)(lba * 131 + stamp * 7 + (ulong)i);
    }

    public static bool Check(ReadOnlySpan<byte> block, ulong lba, ulong stamp)
    {
        Span<byte> expect = stackalloc byte[block.Length];
        Fill(expect, lba, stamp);
        return block.SequenceEqual(expect);
    }

    /// <summary>Phase 1: every block written in 64 KiB commands (PRP lists) and read back.</summary>
    public async Task FillAllAsync(NvmeQueuePair qp)
    {
        ulong stamp = ++_stamp;
        for (ulong b = 0; b < count; b += BigBlocks)
        {
            uint n = (uint)Math.Min(BigBlocks, count - b);
            for (uint i = 0; i < n; i++)
                Fill(_big[0].AsSpan().Slice((int)i * blockSize, blockSize), first + b + i, stamp);
            if (!Expect(await Timed(qp.WriteAsync(first + b, _big[0], n)), "write"))
                return;
            for (uint i = 0; i < n; i++)
                Acked[b + i] = stamp;
            _big[1].AsSpan().Clear();
            if (!Expect(await Timed(qp.ReadAsync(first + b, _big[1], n)), "read"))
                return;
            for (uint i = 0; i < n; i++)
                Verify(_big[1].AsSpan().Slice((int)i * blockSize, blockSize), first + b + i, stamp);
        }
    }

    /// <summary>Phase 2: 4 KiB writes and verified reads (buffer at offset 512: PRP1 + PRP2) until the controller goes or the time is up.</summary>
    public async Task RunUntilRemovedAsync(NvmeQueuePair qp, TimeSpan limit, Action<NvmeWorker> running)
    {
        var sw = Stopwatch.StartNew();
        ulong chunks = count / SmallBlocks;
        for (ulong k = 0; sw.Elapsed < limit && Failure == null; k++)
        {
            if (k == 50) running(this);
            bool ok = index == 0 ? await StepAsync(qp, k % chunks) : StepBatch(qp, (k * Batch) % chunks);
            if (!ok) return;
        }
    }

    private async Task<bool> StepAsync(NvmeQueuePair qp, ulong chunk)
    {
        ulong stamp = ++_stamp, b = chunk * SmallBlocks;
        var buf = _small[0];
        Pattern(buf, b, stamp);
        MarkPending(b, stamp);
        var w = await Timed(qp.WriteAsync(first + b, buf, SmallBlocks, SmallOffset));
        if (!Expect(w, "write")) return false;
        MarkAcked(b, stamp);
        buf.AsSpan().Clear();
        if (!Expect(await Timed(qp.ReadAsync(first + b, buf, SmallBlocks, SmallOffset)), "read")) return false;
        VerifyChunk(buf, b, stamp);
        return true;
    }

    private bool StepBatch(NvmeQueuePair qp, ulong chunk0)
    {
        ulong chunks = count / SmallBlocks;
        var stamps = new ulong[Batch];
        var bs = new ulong[Batch];
        for (int i = 0; i < Batch; i++)
        {
            stamps[i] = ++_stamp;
            bs[i] = (chunk0 + (ulong)i) % chunks * SmallBlocks;
            Pattern(_small[i], bs[i], stamps[i]);
            MarkPending(bs[i], stamps[i]);
        }
        var results = RunBatch(qp, i => qp.SubmitWrite(first + bs[i], _small[i], (ulong)i, SmallBlocks, SmallOffset));
        for (int i = 0; i < Batch; i++)
            if (results[i].IsSuccess) MarkAcked(bs[i], stamps[i]);
        for (int i = 0; i < Batch; i++)
            if (!Expect(results[i], "batch write")) return false;
        foreach (var s in _small) s.AsSpan().Clear();
        results = RunBatch(qp, i => qp.SubmitRead(first + bs[i], _small[i], (ulong)i, SmallBlocks, SmallOffset));
        for (int i = 0; i < Batch; i++)
            if (!Expect(results[i], "batch read")) return false;
        for (int i = 0; i < Batch; i++)
            VerifyChunk(_small[i], bs[i], stamps[i]);
        return true;
    }

    /// <summary>Submits <see cref="Batch"/> commands and polls until each has completed (or was never sent).</summary>
    private NvmeStatus[] RunBatch(NvmeQueuePair qp, Func<int, NvmeStatus> submit)
    {
        var results = new NvmeStatus[Batch];
        var done = new bool[Batch];
        int left = Batch;
        qp.CompletionHandler = (tag, status) => { results[tag] = status; done[tag] = true; left--; };
        double t0 = Report.NowMs();
        for (int i = 0; i < Batch; i++)
        {
            var s = submit(i);
            if (!s.IsSuccess) { results[i] = s; done[i] = true; left--; }
        }
        var sw = Stopwatch.StartNew();
        while (left > 0)
        {
            if (qp.ProcessCompletions(Batch) == 0)
                Thread.Yield();
            if (sw.Elapsed > TimeSpan.FromSeconds(30))
            {
                Failure = "batch: commands did not complete within 30 s (hang)";
                for (int i = 0; i < Batch; i++) if (!done[i]) results[i] = new NvmeStatus(-100);
                break;
            }
        }
        lock (_latencies) _latencies.Add(Report.NowMs() - t0);
        Ops += Batch;
        return results;
    }

    private void Pattern(DmaBuffer buf, ulong b, ulong stamp)
    {
        var s = buf.AsSpan().Slice(SmallOffset);
        for (int i = 0; i < SmallBlocks; i++)
            Fill(s.Slice(i * blockSize, blockSize), first + b + (ulong)i, stamp);
    }

    private void VerifyChunk(DmaBuffer buf, ulong b, ulong stamp)
    {
        var s = buf.AsSpan().Slice(SmallOffset);
        for (int i = 0; i < SmallBlocks; i++)
            Verify(s.Slice(i * blockSize, blockSize), first + b + (ulong)i, stamp);
    }

    private void MarkPending(ulong b, ulong stamp) { for (ulong i = 0; i < SmallBlocks; i++) Pending[b + i] = stamp; }

    private void MarkAcked(ulong b, ulong stamp) { for (ulong i = 0; i < SmallBlocks; i++) { Acked[b + i] = stamp; Pending[b + i] = 0; } }

    private void Verify(ReadOnlySpan<byte> block, ulong lba, ulong stamp)
    {
        VerifiedBlocks++;
        if (!Check(block, lba, stamp) && Interlocked.Increment(ref Mismatches) == 1)
            Failure = $"worker {index}: LBA {lba} did not read back stamp {stamp}";
    }

    private bool Expect(NvmeStatus s, string what)
    {
        if (s.IsSuccess) return true;
        if (s.IsControllerRemoved) { Removed++; return false; }
        Failure ??= $"worker {index}: {what} ended {s}";
        return false;
    }

    private async ValueTask<NvmeStatus> Timed(ValueTask<NvmeStatus> op)
    {
        double t0 = Report.NowMs();
        var s = await op;
        lock (_latencies) _latencies.Add(Report.NowMs() - t0);
        Ops++;
        return s;
    }

    /// <summary>
    /// After the re-attach: every block must hold its acknowledged stamp (or the stamp of the write in flight at the
    /// removal, which then counts as acknowledged for the next cycle).
    /// </summary>
    public async Task<(long Blocks, long InFlight, long Bad)> VerifyAllAsync(NvmeQueuePair qp)
    {
        long blocks = 0, inFlight = 0, bad = 0;
        for (ulong b = 0; b < count; b += BigBlocks)
        {
            uint n = (uint)Math.Min(BigBlocks, count - b);
            var s = await qp.ReadAsync(first + b, _big[1], n);
            if (!s.IsSuccess) { Failure = $"re-read of {first + b} ended {s}"; return (blocks, inFlight, bad + n); }
            for (uint i = 0; i < n; i++)
            {
                var block = _big[1].AsSpan().Slice((int)i * blockSize, blockSize);
                ulong lba = first + b + i;
                blocks++;
                ulong pending = Pending[b + i];
                Pending[b + i] = 0; // settled: the next cycle starts from what the medium holds
                if (Check(block, lba, Acked[b + i])) continue;
                if (pending != 0 && Check(block, lba, pending)) { Acked[b + i] = pending; inFlight++; continue; }
                if (bad++ == 0) Failure = $"LBA {lba}: neither the acknowledged stamp {Acked[b + i]} nor the in-flight {Pending[b + i]}";
            }
        }
        return (blocks, inFlight, bad);
    }
}
