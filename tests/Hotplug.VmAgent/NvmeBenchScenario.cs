using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Nvme;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>nvme-bench BDF LAT_N IOPS_MS QD MAX_MS POST_MS</c>: our side of the NVMe peer benchmark (issue 13 item 4,
/// benchmarks/vm/run-nvme-bench.sh), on the public API of Hotplug.Nvme. Binds the controller to vfio-pci itself
/// (PciDriverControl: from the kernel's nvme driver), attaches, then reports <c>lat</c> (QD1 4 KiB random reads,
/// polled batch API), <c>lat-async</c> (the same through ReadAsync), <c>iops</c> (QD 4 KiB random reads for IOPS_MS),
/// and a removal run (<see cref="NvmeRemovalRun"/>): <c>removal-running</c> (the host pulls the controller now);
/// on the REMOVE, detach; on the kernel's ADD, bind vfio-pci again (as a udev rule would; the guest keeps
/// drivers_autoprobe at 0), wait for BOUND, attach the new controller on the same allocator and resume;
/// <c>removal-done</c> with every stamp, then <c>buckets</c> (the per-ms completions). Same schema as nvme-kbench.
/// </summary>
internal static class NvmeBenchScenario
{
    public static int Run(string bdf, int latN, int iopsMs, int qd, int maxMs, int postMs)
    {
        var control = new PciDriverControl("/sys/bus/pci/devices");
        var address = control.Resolve(bdf);
        control.Bind(address, "vfio-pci");
        var driver = new NvmeDriver();
        using var session = new AgentSession(bdf, driver);
        var (eal, pci, events) = (session.Eal, session.Pci, session.Events);
        var dev = (PciDevice)eal.HotplugAdd("pci", bdf);
        var dma = pci.DmaFor(dev);
        var ctrl = NvmeController.Attach(dev, dma);
        var ns = ctrl.Namespace(1);
        var io = new NvmeBenchIo(dma, qd, ns.BlockSize, ns.BlockCount);
        var qp = ctrl.CreateQueuePair(1, Math.Max(128, qd + 1));
        Report.Emit("bench-attached", w =>
        {
            w.WriteString("side", "ours");
            w.WriteNumber("blocks", ns.BlockCount);
            w.WriteNumber("block_size", ns.BlockSize);
            w.WriteNumber("attach_ms", ctrl.Timings.Total.TotalMilliseconds);
        });

        NvmeBenchIo.EmitLatency("lat", io.LatencyPolled(qp, latN));
        NvmeBenchIo.EmitLatency("lat-async", io.LatencyAsync(qp, latN).GetAwaiter().GetResult());
        var (ops, errors, secs) = io.Iops(qp, iopsMs);
        Report.Emit("iops", w =>
        {
            w.WriteString("side", "ours");
            w.WriteNumber("qd", qd);
            w.WriteNumber("secs", Math.Round(secs, 3));
            w.WriteNumber("ops", ops);
            w.WriteNumber("errors", errors);
            w.WriteNumber("iops", Math.Round(ops / secs));
        });

        var run = new NvmeRemovalRun(io, maxMs, postMs);
        var thread = new Thread(() => run.Run(qp)) { Name = "nvme-bench-io" };
        thread.Start();
        var timeout = TimeSpan.FromMilliseconds(maxMs);
        if (!WaitFor(events, DeviceEventType.Remove, timeout, out var removed))
            return Fail("no REMOVE", run);
        double removeMs = Report.NowMs();
        eal.HotplugRemove(removed); // NvmeDriver.Remove: whatever is still outstanding completes with ControllerRemoved
        if (!run.Drained.Wait(TimeSpan.FromSeconds(30)))
            return Fail("the I/O thread did not drain within 30 s of the REMOVE", run);
        double detachedMs = Report.NowMs();
        ctrl.Dispose();

        if (!WaitFor(events, DeviceEventType.Add, timeout, out _))
            return Fail("no ADD after the removal", run);
        double addMs = Report.NowMs();
        double boundMs = BindAgain(control, address);
        if (boundMs < 0)
            return Fail("could not bind the re-added controller to vfio-pci", run);
        if (!WaitFor(events, DeviceEventType.Bound, timeout, out _))
            return Fail("no BOUND after the bind", run);
        double boundEventMs = Report.NowMs();
        dev = (PciDevice)eal.HotplugAdd("pci", bdf);
        double hotplugAddMs = Report.NowMs();
        // DmaFor gives the same allocator back (its buffers at the same IOVAs) and turns bus mastering on again
        // on the new function: without it the controller cannot fetch its admin queue (CSTS.CFS during IDENTIFY).
        if (!ReferenceEquals(pci.DmaFor(dev), dma))
            return Fail("the re-attached controller got another DMA allocator", run);
        using var again = NvmeController.Attach(dev, dma);
        double attachedMs = Report.NowMs();
        run.Resume(again.CreateQueuePair(1, Math.Max(128, qd + 1)));
        if (!thread.Join(timeout))
            return Fail("the I/O thread did not finish", run);
        double end = Report.NowMs();
        Report.Emit("removal-done", w =>
        {
            w.WriteString("side", "ours");
            w.WriteNumber("qd", qd);
            w.WriteNumber("first_error_ms", Math.Round(run.FirstErrorMs, 3));
            w.WriteString("error", run.FirstError);
            w.WriteNumber("remove_event_ms", Math.Round(removeMs, 3));
            w.WriteNumber("closed_ms", Math.Round(run.DrainedMs, 3));
            w.WriteNumber("detached_ms", Math.Round(detachedMs, 3));
            w.WriteNumber("add_event_ms", Math.Round(addMs, 3));
            w.WriteNumber("bound_ms", Math.Round(boundMs, 3));
            w.WriteNumber("bound_event_ms", Math.Round(boundEventMs, 3));
            w.WriteNumber("hotplug_add_ms", Math.Round(hotplugAddMs, 3));
            w.WriteNumber("reopened_ms", Math.Round(attachedMs, 3));
            w.WriteNumber("first_ok_ms", Math.Round(run.FirstOkMs, 3));
            w.WriteNumber("ok_before", run.OkBefore);
            w.WriteNumber("ok_after", run.OkAfter);
            w.WriteNumber("errors", run.Errors);
            w.WriteNumber("controller_attach_ms", again.Timings.Total.TotalMilliseconds);
            w.WriteString("failure", run.Failure ?? "");
        });
        run.EmitBuckets(end);
        again.Dispose();
        eal.HotplugRemove("pci", bdf);
        return run.Failure == null && run.FirstErrorMs >= 0 && run.FirstOkMs >= 0 ? 0 : 1;
    }

    /// <summary>Binds the re-added function to vfio-pci; the first drivers_probe after a hot-add can fail, so retry for up to 3 s. Returns when it was bound, or -1.</summary>
    private static double BindAgain(PciDriverControl control, PciAddress address)
    {
        var until = DateTime.UtcNow.AddSeconds(3);
        while (true)
        {
            try
            {
                control.Bind(address, "vfio-pci");
                return Report.NowMs();
            }
            catch (PciDriverControlException e)
            {
                if (DateTime.UtcNow > until)
                {
                    Report.Error($"bind: {e.Message}");
                    return -1;
                }
                Thread.Sleep(5);
            }
        }
    }

    private static bool WaitFor(BlockingCollection<DeviceEvent> events, DeviceEventType type, TimeSpan timeout, out DeviceEvent found)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (events.TryTake(out var e, deadline - DateTime.UtcNow > TimeSpan.Zero ? deadline - DateTime.UtcNow : TimeSpan.Zero))
            if (e.Type == type) { found = e; return true; }
        found = null!;
        return false;
    }

    private static int Fail(string why, NvmeRemovalRun run)
    {
        Report.Error($"{why}; I/O thread: {run.Failure ?? "ok"}");
        return 1;
    }
}
