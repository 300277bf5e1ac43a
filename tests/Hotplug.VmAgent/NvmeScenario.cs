using System.Collections.Concurrent;
using System.Diagnostics;
using Hotplug;
using Hotplug.Dma;
using Hotplug.Nvme;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>nvme BDF</c>: the NVMe driver (Hotplug.Nvme) on a controller bound to vfio-pci (issue 13). Reports:
/// <c>identify</c> (model, serial, namespace 1, attach timings); <c>bad-input</c> (each bad request threw, nothing
/// sent); <c>io-ok</c> (two threads, own queue pairs, every block written and read back verified);
/// <c>io-running</c> (continuous verified 4 KiB I/O: the host pulls the controller now); <c>io-stopped</c> per
/// worker (every command completed: success or ControllerRemoved); <c>detached</c>; after the host's device_add and
/// bind: <c>reattach-ok</c> (a new controller, same allocator, every acknowledged block intact); <c>summary</c>.
/// </summary>
internal static class NvmeScenario
{
    public static int Run(string bdf, int cycles)
    {
        var driver = new NvmeDriver();
        using var session = new AgentSession(bdf, driver);
        var (eal, pci, events) = (session.Eal, session.Pci, session.Events);
        var dev = (PciDevice)eal.HotplugAdd("pci", bdf);
        var dma = pci.DmaFor(dev);
        var ctrl = NvmeController.Attach(dev, dma);
        var ns = ctrl.Namespace(1);
        Report.Emit("identify", w =>
        {
            w.WriteString("model", ctrl.Model);
            w.WriteString("serial", ctrl.Serial);
            w.WriteString("firmware", ctrl.Firmware);
            w.WriteString("cap", $"0x{ctrl.Capabilities:x16}");
            w.WriteString("vs", $"0x{ctrl.Version:x}");
            w.WriteNumber("namespaces", ctrl.NamespaceCount);
            w.WriteNumber("blocks", ns.BlockCount);
            w.WriteNumber("block_size", ns.BlockSize);
            w.WriteNumber("mdts_bytes", ctrl.MaxTransferBytes);
            w.WriteNumber("max_qpairs", ctrl.MaxQueuePairs);
            w.WriteNumber("reset_ms", ctrl.Timings.Reset.TotalMilliseconds);
            w.WriteNumber("enable_ms", ctrl.Timings.Enable.TotalMilliseconds);
            w.WriteNumber("identify_ms", ctrl.Timings.Identify.TotalMilliseconds);
            w.WriteNumber("attach_ms", ctrl.Timings.Total.TotalMilliseconds);
        });
        if (!BadInput(ctrl, dma))
            return 1;

        ulong half = ns.BlockCount / 2;
        var workers = new[] { new NvmeWorker(0, 0, half, dma, ns.BlockSize), new NvmeWorker(1, half, half, dma, ns.BlockSize) };
        var iovas = workers.SelectMany(w => w.Buffers).Select(b => b.Iova).ToArray();
        var qps = new NvmeQueuePair[2];
        double t0 = Report.NowMs();
        RunBoth(workers, w => { qps[w.Index] = ctrl.CreateQueuePair(); return w.FillAllAsync(qps[w.Index]); });
        if (Failed(workers))
            return 1;
        Report.Emit("io-ok", w =>
        {
            w.WriteNumber("blocks", workers.Sum(x => x.VerifiedBlocks));
            w.WriteNumber("ops", workers.Sum(x => x.Ops));
            w.WriteNumber("ms", Report.NowMs() - t0);
            w.WriteNumber("mean_64k_op_ms", workers.Average(x => x.MeanLatencyMs));
            w.WriteString("qpairs", $"{qps[0].Id},{qps[1].Id}");
        });

        for (int cycle = 1; cycle <= cycles; cycle++)
        {
            var next = RunCycle(eal, pci, events, bdf, dma, ctrl, qps, workers, iovas, cycle, cycle == cycles);
            if (next == null)
                return 1;
            ctrl = next;
        }
        return 0;
    }

    /// <summary>
    /// One removal: continuous verified I/O on <paramref name="qps"/> until the host pulls the controller, the
    /// REMOVE (every outstanding command completes with ControllerRemoved), the release; then, after the host's
    /// device_add and bind, a new controller on the same allocator at the same IOVAs and every acknowledged block
    /// read back. Returns the new controller with fresh queue pairs in <paramref name="qps"/> (after the last cycle:
    /// flushed, disposed and detached), or null on a failure (reported).
    /// </summary>
    private static NvmeController? RunCycle(Eal eal, PciBus pci, BlockingCollection<DeviceEvent> events, string bdf, DmaAllocator dma,
        NvmeController ctrl, NvmeQueuePair[] qps, NvmeWorker[] workers, ulong[] iovas, int cycle, bool last)
    {
        int running = 0;
        var stopped = new double[2];
        var loop = Task.Factory.StartNew(() => RunBoth(workers, async w =>
        {
            await w.RunUntilRemovedAsync(qps[w.Index], TimeSpan.FromSeconds(120), _ =>
            {
                if (Interlocked.Increment(ref running) == 2)
                    Report.Emit("io-running", x => { x.WriteNumber("cycle", cycle); x.WriteNumber("ops", workers.Sum(y => y.Ops)); });
            });
            stopped[w.Index] = Report.NowMs();
            Report.Emit("io-stopped", x =>
            {
                x.WriteNumber("cycle", cycle);
                x.WriteNumber("worker", w.Index);
                x.WriteNumber("ops", w.Ops);
                x.WriteNumber("removed", w.Removed);
                x.WriteNumber("outstanding", qps[w.Index].Outstanding);
                x.WriteNumber("mean_ms", w.MeanLatencyMs);
                x.WriteString("failure", w.Failure ?? "");
            });
            qps[w.Index].Dispose();
        }), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default); // its own thread: the pool stays free for the async worker
        if (!WaitFor(events, DeviceEventType.Remove, TimeSpan.FromSeconds(150), out var removed))
            return Fail("no REMOVE");
        double removeMs = Report.NowMs();
        eal.HotplugRemove(removed); // NvmeDriver.Remove: every outstanding command completes with ControllerRemoved
        if (!loop.Wait(TimeSpan.FromSeconds(30)))
            return Fail("the I/O workers did not stop within 30 s of the REMOVE (a hang)");
        if (Failed(workers))
            return null;
        var shutdown = ctrl.LastShutdown;
        ctrl.Dispose();
        Report.Emit("detached", w =>
        {
            w.WriteNumber("cycle", cycle);
            w.WriteBoolean("quiesced", shutdown is { Completed: true });
            w.WriteNumber("shutdown_ms", shutdown?.Elapsed.TotalMilliseconds ?? -1);
            w.WriteNumber("stop_after_remove_ms", stopped.Max() - removeMs);
            w.WriteNumber("removed_statuses", workers.Sum(x => x.Removed));
            w.WriteNumber("acked_blocks", workers.Sum(x => x.Acked.Count(s => s != 0)));
            Resources.Write(w);
        });

        if (!WaitFor(events, DeviceEventType.Bound, TimeSpan.FromSeconds(60), out _))
            return Fail("no BOUND after the device came back");
        var sw = Stopwatch.StartNew();
        var dev = (PciDevice)eal.HotplugAdd("pci", bdf);
        if (!ReferenceEquals(pci.DmaFor(dev), dma) || !iovas.SequenceEqual(workers.SelectMany(w => w.Buffers).Select(b => b.Iova)))
            return Fail("the re-attached device got another allocator or other IOVAs");
        var again = NvmeController.Attach(dev, dma);
        double attachMs = sw.Elapsed.TotalMilliseconds;
        var results = new (long Blocks, long InFlight, long Bad)[workers.Length];
        using (var qp = again.CreateQueuePair())
            for (int i = 0; i < workers.Length; i++)
                results[i] = workers[i].VerifyAllAsync(qp).GetAwaiter().GetResult();
        long bad = results.Sum(r => r.Bad);
        Report.Emit(bad == 0 ? "reattach-ok" : "reattach-bad", w =>
        {
            w.WriteNumber("cycle", cycle);
            w.WriteNumber("attach_ms", attachMs);
            w.WriteNumber("controller_attach_ms", again.Timings.Total.TotalMilliseconds);
            w.WriteNumber("blocks_verified", results.Sum(r => r.Blocks));
            w.WriteNumber("in_flight_blocks", results.Sum(r => r.InFlight));
            w.WriteNumber("bad_blocks", bad);
            w.WriteString("failure", string.Join("; ", workers.Select(x => x.Failure).Where(f => f != null)));
        });
        if (bad != 0)
        {
            again.Dispose();
            return null;
        }
        if (!last)
        {
            for (int i = 0; i < qps.Length; i++)
                qps[i] = again.CreateQueuePair();
            return again;
        }
        using (var qp = again.CreateQueuePair())
        {
            var flush = qp.FlushAsync().AsTask().GetAwaiter().GetResult();
            Report.Emit("summary", w => { w.WriteNumber("cycles", cycle); w.WriteString("flush", flush.ToString()); });
            if (!flush.IsSuccess)
            {
                again.Dispose();
                return null;
            }
        }
        again.Dispose();
        eal.HotplugRemove("pci", bdf);
        return again;
    }

    /// <summary>Bad requests: each throws before anything is sent.</summary>
    private static bool BadInput(NvmeController ctrl, DmaAllocator dma)
    {
        using var qp = ctrl.CreateQueuePair();
        var ns = qp.Namespace;
        using var ok = dma.Allocate(4096, 4096);
        var disposed = dma.Allocate(4096, 4096);
        disposed.Dispose();
        var checks = new (string Name, Action Bad)[]
        {
            ("namespace 0", () => ctrl.Namespace(0)),
            ("namespace past NN", () => ctrl.Namespace(ctrl.NamespaceCount + 1)),
            ("qpair for a missing namespace", () => ctrl.CreateQueuePair(ctrl.NamespaceCount + 7)),
            ("read past the end", () => qp.ReadAsync(ns.BlockCount - 4, ok)),
            ("write at the last block + 1", () => qp.SubmitWrite(ns.BlockCount, ok, 0, 1)),
            ("buffer too small", () => qp.ReadAsync(0, ok, 16)),
            ("misaligned length", () => qp.ReadAsync(0, ok, 0, 100)),
            ("misaligned offset", () => qp.ReadAsync(0, ok, 1, 2)),
            ("disposed buffer", () => qp.ReadAsync(0, disposed, 1)),
        };
        var failures = new List<string>();
        foreach (var (name, bad) in checks)
        {
            try { bad(); failures.Add($"{name}: no exception"); }
            catch (Exception e) when (e is ArgumentException or ObjectDisposedException) { }
        }
        int outstanding = qp.Outstanding;
        Report.Emit(failures.Count == 0 && outstanding == 0 ? "bad-input" : "bad-input-failed", w =>
        {
            w.WriteNumber("checks", checks.Length);
            w.WriteNumber("outstanding", outstanding);
            w.WriteString("failures", string.Join("; ", failures));
        });
        return failures.Count == 0 && outstanding == 0;
    }

    private static void RunBoth(NvmeWorker[] workers, Func<NvmeWorker, Task> body)
    {
        // Worker 0 awaits (async API), worker 1 polls on its own thread (batch API).
        var a = Task.Run(() => body(workers[0]));
        var t = new Thread(() =>
        {
            try { body(workers[1]).GetAwaiter().GetResult(); }
            catch (Exception e) { workers[1].Failure ??= $"worker 1 threw: {e}"; }
        }) { Name = "nvme-batch" };
        t.Start();
        try { a.GetAwaiter().GetResult(); }
        catch (Exception e) { workers[0].Failure ??= $"worker 0 threw: {e}"; }
        t.Join();
    }

    private static bool Failed(NvmeWorker[] workers)
    {
        var f = workers.Select(w => w.Failure).FirstOrDefault(x => x != null);
        if (f != null)
            Report.Error(f);
        return f != null;
    }

    private static bool WaitFor(BlockingCollection<DeviceEvent> events, DeviceEventType type, TimeSpan timeout, out DeviceEvent found)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (events.TryTake(out var e, deadline - DateTime.UtcNow > TimeSpan.Zero ? deadline - DateTime.UtcNow : TimeSpan.Zero))
            if (e.Type == type) { found = e; return true; }
        found = null!;
        return false;
    }

    private static NvmeController? Fail(string why)
    {
        Report.Error(why);
        return null;
    }
}
