using System.Buffers.Binary;
using System.Diagnostics;
using Hotplug.Dma;
using Hotplug.Nvme;
using Hotplug.Pci;

namespace Hotplug.Cli;

/// <summary>What <c>hotplug nvme</c> does, apart from the command line.</summary>
internal sealed record NvmeSessionOptions
{
    /// <summary>Write a pattern and read it back verified (destroys the data in the range); false: verified-length reads only.</summary>
    public bool Write { get; init; }
    /// <summary>The LBA range used, in 4 KiB chunks from LBA 0.</summary>
    public int Chunks { get; init; } = 256;
    /// <summary>Stop after this many removals (and re-attaches); 0: run until cancelled.</summary>
    public int Cycles { get; init; }
    /// <summary>Stop after this long; null: run until cancelled (or <see cref="Cycles"/>).</summary>
    public TimeSpan? Duration { get; init; }
    /// <summary>How long to wait for the controller to come back after a removal.</summary>
    public TimeSpan ReturnTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// The loop of <c>hotplug nvme</c>: attach the controller, IDENTIFY, then 4 KiB I/O on one queue pair (with
/// <see cref="NvmeSessionOptions.Write"/>: each chunk written with a stamped pattern and read back verified), a
/// line per second; when the controller goes, the commands end with ControllerRemoved, the app detaches and waits
/// for it to come back (bound to vfio-pci or a uio driver again), re-attaches on the same DMA allocator and checks
/// that every chunk acknowledged before the removal reads back intact. Exit 0 if nothing failed verification.
/// </summary>
internal sealed class NvmeSession(Eal eal, string device, NvmeSessionOptions options, TextWriter output, Func<PciDevice, DmaAllocator> dmaFor)
{
    private const int ChunkBytes = 4096;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly SemaphoreSlim _removed = new(0), _bound = new(0);
    private ulong[] _acked = [];
    private ulong _stamp;
    private long _ops, _bad;

    public int Run(CancellationToken ct)
    {
        using var sub = eal.DeviceEvents.Register(device, e =>
        {
            if (e.Type == DeviceEventType.Remove)
            {
                Say($"REMOVE ({e.Source}): detaching; every command still in flight ends with ControllerRemoved");
                eal.HotplugRemove(e);
                _removed.Release();
            }
            else if (e.Type == DeviceEventType.Bound)
                _bound.Release();
        });
        DmaAllocator? dma = null;
        for (int cycle = 0; ; cycle++)
        {
            var dev = (PciDevice)eal.HotplugAdd("pci", device);
            dma ??= dmaFor(dev);
            var sw = Stopwatch.StartNew();
            using var ctrl = NvmeController.Attach(dev, dma);
            var ns = ctrl.Namespace(1);
            if (cycle == 0)
            {
                Say($"{device}: {ctrl.Model.Trim()} serial {ctrl.Serial.Trim()} firmware {ctrl.Firmware.Trim()}, {ns}, attached in {sw.Elapsed.TotalMilliseconds:F1} ms");
                int chunks = (int)Math.Min((ulong)options.Chunks, ns.Bytes / ChunkBytes);
                if (chunks < 1)
                    throw new NvmeException($"namespace 1 of {device} holds less than {ChunkBytes} bytes");
                _acked = new ulong[chunks];
                Say(options.Write ? $"verified writes and reads over LBAs 0..{chunks * ChunkBytes / ns.BlockSize - 1} (their data is overwritten)" : $"reads over LBAs 0..{chunks * ChunkBytes / ns.BlockSize - 1} (no writes; --write verifies data)");
            }
            else
            {
                Say($"re-attached in {sw.Elapsed.TotalMilliseconds:F1} ms (same DMA allocator, same IOVAs)");
                if (options.Write && !VerifyAcked(ctrl, dma))
                    return 1;
                if (options.Cycles > 0 && cycle >= options.Cycles)
                    return Done();
            }
            if (!Loop(ctrl, dma, ns, ct))
                return Done();
            if (!Wait(_removed, TimeSpan.FromSeconds(30), ct, "the REMOVE event"))
                return Done(1);
            Say("detached; waiting for the controller to come back (bind it to vfio-pci or a uio driver; --bind-on-add does it)");
            if (!Wait(_bound, options.ReturnTimeout, ct, "the controller's return"))
                return Done(options.Cycles > 0 ? 1 : 0);
            Say("the controller is back (BOUND)");
        }
    }

    /// <summary>I/O until the controller goes (true), or the time is up or cancelled (false).</summary>
    private bool Loop(NvmeController ctrl, DmaAllocator dma, NvmeNamespace ns, CancellationToken ct)
    {
        using var qp = ctrl.CreateQueuePair();
        using var buf = dma.Allocate(ChunkBytes, ChunkBytes);
        uint blocks = (uint)(ChunkBytes / ns.BlockSize);
        long second = 0, opsAtSecond = _ops;
        for (int k = 0; ; k = (k + 1) % _acked.Length)
        {
            if (ct.IsCancellationRequested || (options.Duration is { } d && _clock.Elapsed >= d))
                return false;
            NvmeStatus s;
            if (options.Write)
            {
                ulong stamp = ++_stamp;
                Fill(buf.AsSpan(), (ulong)k, stamp);
                s = qp.WriteAsync((ulong)k * blocks, buf, blocks).AsTask().GetAwaiter().GetResult();
                if (s.IsSuccess)
                {
                    _acked[k] = stamp;
                    buf.AsSpan().Clear();
                    s = qp.ReadAsync((ulong)k * blocks, buf, blocks).AsTask().GetAwaiter().GetResult();
                    if (s.IsSuccess && !Check(buf.AsSpan(), (ulong)k, stamp))
                        Bad($"chunk {k} did not read back what was written");
                }
            }
            else
                s = qp.ReadAsync((ulong)k * blocks, buf, blocks).AsTask().GetAwaiter().GetResult();
            if (s.IsControllerRemoved)
            {
                Say($"I/O: {s} after {_ops} commands; outstanding now {qp.Outstanding}");
                return true;
            }
            if (!s.IsSuccess)
                Bad($"chunk {k}: {s}");
            _ops++;
            if ((long)_clock.Elapsed.TotalSeconds > second)
            {
                second = (long)_clock.Elapsed.TotalSeconds;
                Say($"{_ops - opsAtSecond} ops/s, {_ops} in all, {_bad} failed verification");
                opsAtSecond = _ops;
            }
        }
    }

    private bool VerifyAcked(NvmeController ctrl, DmaAllocator dma)
    {
        using var qp = ctrl.CreateQueuePair();
        using var buf = dma.Allocate(ChunkBytes, ChunkBytes);
        var ns = ctrl.Namespace(1);
        uint blocks = (uint)(ChunkBytes / ns.BlockSize);
        int checkedChunks = 0;
        long badBefore = _bad;
        for (int k = 0; k < _acked.Length; k++)
        {
            if (_acked[k] == 0)
                continue;
            var s = qp.ReadAsync((ulong)k * blocks, buf, blocks).AsTask().GetAwaiter().GetResult();
            checkedChunks++;
            // A write in flight at the removal may have landed: its stamp is _acked + 1 at most for the last chunk.
            if (!s.IsSuccess || !(Check(buf.AsSpan(), (ulong)k, _acked[k]) || Check(buf.AsSpan(), (ulong)k, _stamp)))
                Bad($"chunk {k} lost its acknowledged data after the re-attach ({s})");
        }
        Say(_bad == badBefore ? $"all {checkedChunks} acknowledged chunks read back intact" : $"{_bad - badBefore} of {checkedChunks} acknowledged chunks are wrong");
        return _bad == badBefore;
    }

    private bool Wait(SemaphoreSlim what, TimeSpan timeout, CancellationToken ct, string name)
    {
        try
        {
            if (what.Wait(timeout, ct))
                return true;
            Say($"no {name} within {timeout.TotalSeconds:F0} s");
        }
        catch (OperationCanceledException) { }
        return false;
    }

    private int Done(int rc = 0)
    {
        Say($"done: {_ops} commands, {_bad} failed verification");
        return _bad == 0 ? rc : 1;
    }

    private void Bad(string what)
    {
        _bad++;
        Say("FAILED: " + what);
    }

    private void Say(string line) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds,8:F3} s] {line}");

    private static void Fill(Span<byte> chunk, ulong k, ulong stamp)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(chunk, k);
        BinaryPrimitives.WriteUInt64LittleEndian(chunk[8..], stamp);
        for (int i = 16; i < chunk.Length; i++)
            chunk[i] = (byte)(k * 31 + stamp * 7 + (ulong)i);
    }

    private static bool Check(ReadOnlySpan<byte> chunk, ulong k, ulong stamp)
    {
        Span<byte> expect = stackalloc byte[chunk.Length];
        Fill(expect, k, stamp);
        return chunk.SequenceEqual(expect);
    }
}
