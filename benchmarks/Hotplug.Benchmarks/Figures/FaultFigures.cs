using System.Diagnostics;
using System.Globalization;
using Hotplug;
using Hotplug.Interop;
using Hotplug.Pci;
using Hotplug.Testing;

namespace Hotplug.Benchmarks.Figures;

/// <summary>
/// fault -> remap -> resumed access, and fault -> managed REMOVE callback. Every iteration re-arms from
/// scratch: a new simulated device (fresh memfd BAR), attached with HotplugAdd (mapped through its sysfs
/// resource0 like a real uio device), read once, its BAR memory truncated (FailBars: the next access is a
/// real kernel SIGBUS), then one timed Read32. The event thread's REMOVE callback is awaited before the
/// device is detached, so no iteration overlaps the next.
/// </summary>
public static class FaultFigures
{
    private static readonly (string Label, ulong Bytes)[] Sizes = [("4k", 4096), ("1m", 1UL << 20), ("16m", 16UL << 20)];

    public static IEnumerable<FigureResult> Run(FigureOptions o)
    {
        var results = new List<FigureResult>();
        Samples? callback = null, pickup = null;
        int lost = 0;
        foreach (var fill in new[] { BarFill.AllOnes, BarFill.Zero })
        {
            string f = fill == BarFill.AllOnes ? "ones" : "zero";
            foreach (var (label, bytes) in Sizes)
            {
                // Quick: 150 managed iterations (each builds a device); the C side is cheap, so more.
                int oursN = (label == "4k" && fill == BarFill.AllOnes ? 300 : 150) * o.Scale / o.Rounds;
                int baseN = 400 * o.Scale / o.Rounds;
                var ours = new Samples();
                var tiny = new Samples();
                var shimC = new Samples();
                var shimManaged = new Samples();
                var cb = new Samples();
                var pk = new Samples();
                Breakdown = new Parts(new Samples(), new Samples(), new Samples());
                for (int r = 0; r < o.Rounds; r++)
                {
                    tiny.AddRange(Baseline.Run(o.BinDir, "fault", "remap", f, bytes.ToString(CultureInfo.InvariantCulture), N(baseN), "tiny"));
                    lost += Managed(fill, bytes, oursN, ours, cb, pk, o.Pin);
                    shimC.AddRange(Baseline.Run(o.BinDir, "fault", "remap", f, bytes.ToString(CultureInfo.InvariantCulture), N(baseN), "shim"));
                    ShimOnly(fill, bytes, oursN, shimManaged);
                }
                string name = $"fault_remap_{f}_{label}";
                Log.Info($"{name}: ours median {FigureResult.Fmt(ours.MedianUs)} us, C tiny {FigureResult.Fmt(tiny.MedianUs)} us, C+shim {FigureResult.Fmt(shimC.MedianUs)} us");
                results.Add(new FigureResult(name, ours, tiny, "<= 1.1x", "C, own 15-line SIGBUS handler"));
                results.Add(new FigureResult($"info_shim_from_c_{f}_{label}", shimC, tiny, "-", "C, own handler",
                    "libhotplug_shim called from C, no runtime: the shim's own share", Primary: false));
                results.Add(new FigureResult($"info_shim_from_managed_{f}_{label}", shimManaged, tiny, "-", "C, own handler",
                    "the .NET runtime + shim, no Eal (nobody woken): the runtime's share", Primary: false));
                results.Add(new FigureResult($"info_fault_{f}_{label}_1_entry", Breakdown.Entry, null, "-", "-",
                    "ours: before the read -> handler entered (kernel fault + signal delivery)", Primary: false));
                results.Add(new FigureResult($"info_fault_{f}_{label}_2_handler", Breakdown.Handler, null, "-", "-",
                    "ours: handler entered -> remap done", Primary: false));
                results.Add(new FigureResult($"info_fault_{f}_{label}_3_resume", Breakdown.Resume, null, "-", "-",
                    "ours: remap done -> read returned (rest of handler incl. waking the event thread, sigreturn, retried access)", Primary: false));
                if (fill == BarFill.AllOnes && label == "4k")
                {
                    callback = cb;
                    pickup = pk;
                }
            }
        }
        if (o.Pin)
        {
            // The same as fault_remap_ones_4k with no thread placement: the event thread, woken by the
            // handler, may be put on the faulting CPU and run its REMOVE work before the read resumes.
            var ours = new Samples();
            var tiny = new Samples();
            Breakdown = null;
            for (int r = 0; r < o.Rounds; r++)
            {
                tiny.AddRange(Baseline.Run(o.BinDir, "fault", "remap", "ones", "4096", N(400 * o.Scale / o.Rounds), "tiny"));
                lost += Managed(BarFill.AllOnes, 4096, 150 * o.Scale / o.Rounds, ours, new Samples(), new Samples(), pin: false);
            }
            Log.Info($"fault_remap_ones_4k_unpinned: ours median {FigureResult.Fmt(ours.MedianUs)} us, C tiny {FigureResult.Fmt(tiny.MedianUs)} us");
            results.Add(new FigureResult("fault_remap_ones_4k_unpinned", ours, tiny, "<= 1.1x", "C, own 15-line SIGBUS handler",
                "no thread placement: the woken event thread can run on the faulting CPU first"));
        }
        foreach (var fill in new[] { "ones", "zero" })
        {
            foreach (var (label, bytes) in Sizes)
            {
                // The fairer floor for a design that must tell another thread: the C tiny handler that also
                // wakes a thread blocked on an eventfd (placed like our event thread). In a VM the cross-CPU
                // wake-up (an IPI, a VM exit) lands on the faulting thread; and because that thread has run
                // on the other CPU, a remap that frees page tables (1 MiB and up) pays a TLB-flush IPI too.
                var cWake = new Samples();
                for (int r = 0; r < o.Rounds; r++)
                    cWake.AddRange(Baseline.Run(o.BinDir, "fault", "notify", N(400 * o.Scale / o.Rounds), "access", fill, bytes.ToString(CultureInfo.InvariantCulture)));
                string name = $"fault_remap_{fill}_{label}";
                var ours = results.First(x => x.Name == name).Ours;
                Log.Info($"{name}_vs_c_wake: ours median {FigureResult.Fmt(ours.MedianUs)} us, C tiny + wake {FigureResult.Fmt(cWake.MedianUs)} us");
                results.Add(new FigureResult($"{name}_vs_c_wake", ours, cWake, "-",
                    "C, own handler that also wakes a thread blocked in read() on an eventfd",
                    $"same managed samples as {name}; a baseline that pays the wake-up we must pay"));
            }
        }
        var notify = new Samples();
        for (int r = 0; r < o.Rounds; r++)
            notify.AddRange(Baseline.Run(o.BinDir, "fault", "notify", N(400 * o.Scale / o.Rounds)));
        string note = lost > 0 ? $"{lost} callbacks not seen within 2 s" : "";
        results.Add(new FigureResult("fault_remove_callback", callback!, notify, "median within ~10 us of the fault",
            "C: handler writes an eventfd, a thread blocked in read() wakes", note));
        results.Add(new FigureResult("info_fault_event_thread_pickup", pickup!, notify, "-",
            "C: handler writes an eventfd, a thread blocked in read() wakes",
            "fault -> the event thread has read the shim's ring (SigbusFault.HandledNs - FaultNs)", Primary: false));
        return results;
    }

    private static string N(int n) => Math.Max(n, 10).ToString(CultureInfo.InvariantCulture);

    private sealed record Parts(Samples Entry, Samples Handler, Samples Resume);

    private static Parts? Breakdown;

    /// <summary>Runs the managed loop; returns how many REMOVE callbacks were missed.</summary>
    private static int Managed(BarFill fill, ulong bytes, int iterations, Samples access, Samples callback, Samples pickup, bool pin)
    {
        if (Stopwatch.Frequency != 1_000_000_000)
            throw new InvalidOperationException("Stopwatch ticks are not nanoseconds on this platform.");
        uint expect = fill == BarFill.AllOnes ? 0xFFFFFFFFu : 0u;
        using var split = CpuSplit.Begin(pin);
        using var sim = SimulatedPciBus.Create(FastTempDir());
        using var eal = PciEal.Create(sim.CreateOptions(fill), null);
        split.DataPath();
        eal.Pci().RegisterDriver(new SimulatedDriver("bench", new PciId(0x1234, 0x11e8)) { KeepHistory = false });
        eal.EnableHotplugHandling();
        using var done = new ManualResetEventSlim();
        long removeNs = 0, faultNs = 0, handledNs = 0, handledFaultNs = 0, remappedNs = 0;
        eal.DeviceEvents.Register(null, e =>
        {
            if (e.Type != DeviceEventType.Remove)
                return;
            removeNs = BusHost.MonotonicNs();
            faultNs = e.TimestampNs;
            done.Set();
        });
        eal.SigbusFaultHandled += f =>
        {
            handledNs = f.HandledNs;
            remappedNs = f.RemappedNs;
            handledFaultNs = f.FaultNs;
        };
        var addresses = new AddressSequence();
        int lost = 0;
        int warm = Math.Min(20, iterations / 5);
        for (int i = -warm; i < iterations; i++)
        {
            string a = addresses.Next();
            using var dev = sim.AddDevice(a, 0x1234, 0x11e8, [bytes]);
            var d = (PciDevice)eal.HotplugAdd("pci", a);
            var bar = d.Bar(0);
            bar.Read32(0);
            done.Reset();
            dev.FailBars();
            long t0 = BusHost.MonotonicNs();
            uint v = bar.Read32(0);
            long t1 = BusHost.MonotonicNs();
            if (v != expect)
                throw new InvalidOperationException($"read 0x{v:x8} after the fault, expected 0x{expect:x8}");
            bool seen = done.Wait(2000);
            if (i >= 0)
            {
                access.Add(t1 - t0);
                if (seen)
                {
                    callback.Add(removeNs - faultNs);
                    if (handledFaultNs == faultNs)
                    {
                        pickup.Add(handledNs - handledFaultNs);
                        Breakdown?.Entry.Add(faultNs - t0);
                        Breakdown?.Handler.Add(remappedNs - faultNs);
                        Breakdown?.Resume.Add(t1 - remappedNs);
                    }
                }
                else
                {
                    lost++;
                }
            }
            eal.HotplugRemove("pci", a);
        }
        return lost;
    }

    /// <summary>The same fault in this process through the shim alone: no Eal, no event thread.</summary>
    private static unsafe void ShimOnly(BarFill fill, ulong bytes, int iterations, Samples access)
    {
        uint expect = fill == BarFill.AllOnes ? 0xFFFFFFFFu : 0u;
        if (NativeShim.hp_sigbus_install() < 0)
            throw new InvalidOperationException("hp_sigbus_install failed");
        NativeShim.hp_fault* drain = stackalloc NativeShim.hp_fault[16];
        try
        {
            for (int i = -10; i < iterations; i++)
            {
                int fd;
                fixed (byte* name = "bench-bar\0"u8)
                    fd = Tmds.Linux.LibC.memfd_create(name, 1 /* MFD_CLOEXEC */);
                if (fd < 0 || Tmds.Linux.LibC.ftruncate(fd, (long)bytes) != 0)
                    throw new InvalidOperationException("memfd");
                byte* p = (byte*)Tmds.Linux.LibC.mmap(null, (Tmds.Linux.size_t)(nuint)bytes, Tmds.Linux.LibC.PROT_READ | Tmds.Linux.LibC.PROT_WRITE, Tmds.Linux.LibC.MAP_SHARED, fd, 0);
                if (p == Tmds.Linux.LibC.MAP_FAILED)
                    throw new InvalidOperationException("mmap");
                _ = Volatile.Read(ref *(uint*)p);
                int slot = NativeShim.hp_range_add((nint)p, (nuint)bytes, 1, fill == BarFill.AllOnes ? NativeShim.HP_FILL_ONES : NativeShim.HP_FILL_ZERO);
                Tmds.Linux.LibC.ftruncate(fd, 0);
                long t0 = BusHost.MonotonicNs();
                uint v = Volatile.Read(ref *(uint*)p);
                long t1 = BusHost.MonotonicNs();
                if (v != expect)
                    throw new InvalidOperationException($"read 0x{v:x8} after the fault, expected 0x{expect:x8}");
                if (i >= 0)
                    access.Add(t1 - t0);
                NativeShim.hp_range_remove(slot);
                Tmds.Linux.LibC.munmap(p, (Tmds.Linux.size_t)(nuint)bytes);
                Tmds.Linux.LibC.close(fd);
                while (NativeShim.hp_fault_read(drain, 16) > 0)
                {
                }
            }
        }
        finally
        {
            NativeShim.hp_sigbus_uninstall();
        }
    }

    /// <summary>tmpfs when there is one (like sysfs, in memory), else the default temp folder.</summary>
    internal static string? FastTempDir()
    {
        if (!Directory.Exists("/dev/shm"))
            return null;
        return Path.Combine("/dev/shm", $"hotplug-bench-{Environment.ProcessId}-{Guid.NewGuid():N}");
    }
}
