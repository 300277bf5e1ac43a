using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;

namespace Hotplug.Benchmarks.Figures;

/// <summary>
/// The data path when nothing goes wrong: 1,024 32-bit reads of a mapped BAR (a simulated device's 1 MiB
/// memfd BAR, mapped by the PCI bus) per batch, at offsets (i * 64) &amp; 0xFFF, through MappedBar.Read32
/// and through the raw MappedBar.Pointer, with hotplug handling (the SIGBUS handler) enabled and disabled;
/// the C baseline does the same reads through a raw pointer. Allocations are counted around the loops.
/// </summary>
public static unsafe class DataPathFigure
{
    private const int Reads = 1024;

    public static IEnumerable<FigureResult> Run(FigureOptions o)
    {
        int n = 300 * o.Scale / o.Rounds;
        const int PerSample = 8;
        var c = new Samples();
        var accOn = new Samples();
        var rawOn = new Samples();
        var accOff = new Samples();
        var rawOff = new Samples();
        for (int r = 0; r < o.Rounds; r++)
        {
            c.AddRange(Baseline.Run(o.BinDir, "datapath", n.ToString(CultureInfo.InvariantCulture), PerSample.ToString(CultureInfo.InvariantCulture)));
            foreach (bool enabled in new[] { true, false })
            {
                using var split = CpuSplit.Begin(o.Pin);
                using var sim = SimulatedPciBus.Create(FaultFigures.FastTempDir());
                using var dev = sim.AddDevice("0000:01:00.0", 0x1234, 0x11e8, [1UL << 20]);
                using var eal = PciEal.Create(sim.CreateOptions(), null);
                split.DataPath();
                eal.Pci().RegisterDriver(new SimulatedDriver("bench", new PciId(0x1234, 0x11e8)) { KeepHistory = false });
                if (enabled)
                    eal.EnableHotplugHandling();
                var bar = ((PciDevice)eal.HotplugAdd("pci", "0000:01:00.0")).Bar(0);
                Warm(bar);
                Measure(n, PerSample, () => Accessor(bar), enabled ? accOn : accOff);
                Measure(n, PerSample, () => RawPointer(bar.Pointer), enabled ? rawOn : rawOff);
            }
        }
        // The sample lists above allocate; the reads themselves must not. Counted on their own:
        long perBatch = AllocatedByBatch();
        string alloc = $"{perBatch} bytes allocated per 1,024 accessor reads";
        Log.Info($"datapath: accessor on {FigureResult.Fmt(accOn.MedianUs)} us, raw on {FigureResult.Fmt(rawOn.MedianUs)} us, accessor off {FigureResult.Fmt(accOff.MedianUs)} us, raw off {FigureResult.Fmt(rawOff.MedianUs)} us, C {FigureResult.Fmt(c.MedianUs)} us per 1,024 reads; {alloc}");
        yield return new FigureResult("datapath_accessor_vs_raw", accOn, rawOn, "<= 1.02x, 0 allocations", "managed raw pointer (MappedBar.Pointer), handling enabled", alloc);
        yield return new FigureResult("datapath_handling_on_vs_off", accOn, accOff, "<= 1.02x", "MappedBar.Read32 with hotplug handling disabled", alloc);
        yield return new FigureResult("datapath_accessor_vs_c", accOn, c, "<= 1.02x", "C raw volatile pointer reads", alloc);
        yield return new FigureResult("info_datapath_raw_on_vs_off", rawOn, rawOff, "-", "managed raw pointer, handling disabled", Primary: false);
        yield return new FigureResult("info_datapath_raw_managed_vs_c", rawOn, c, "-", "C raw volatile pointer reads", Primary: false);
        yield return new FigureResult("datapath_allocated_bytes", new Samples(), null, "0", "-", alloc) { RatioOverride = perBatch, Primary = false };
    }

    private static void Warm(MappedBar bar)
    {
        // Past tier-0 and OSR: run both loops for a while before measuring.
        long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 3;
        uint sink = 0;
        while (Stopwatch.GetTimestamp() < until)
        {
            sink += Accessor(bar);
            sink += RawPointer(bar.Pointer);
        }
        GC.KeepAlive(sink);
    }

    private static void Measure(int samples, int perSample, Func<uint> batch, Samples into)
    {
        uint sink = 0;
        for (int s = 0; s < samples; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int b = 0; b < perSample; b++)
                sink += batch();
            into.Add((Stopwatch.GetTimestamp() - t0) / perSample);
        }
        GC.KeepAlive(sink);
    }

    private static long AllocatedByBatch()
    {
        using var sim = SimulatedPciBus.Create(FaultFigures.FastTempDir());
        using var dev = sim.AddDevice("0000:01:00.0", 0x1234, 0x11e8, [1UL << 20]);
        using var eal = PciEal.Create(sim.CreateOptions(), null);
        eal.Pci().RegisterDriver(new SimulatedDriver("bench", new PciId(0x1234, 0x11e8)) { KeepHistory = false });
        eal.EnableHotplugHandling();
        var bar = ((PciDevice)eal.HotplugAdd("pci", "0000:01:00.0")).Bar(0);
        Warm(bar);
        uint sink = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
            sink += Accessor(bar);
        long after = GC.GetAllocatedBytesForCurrentThread();
        GC.KeepAlive(sink);
        return (after - before) / 1000;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static uint Accessor(MappedBar bar)
    {
        uint sum = 0;
        for (int i = 0; i < Reads; i++)
            sum += bar.Read32((ulong)((i * 64) & 0xFFF));
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static uint RawPointer(nint pointer)
    {
        byte* p = (byte*)pointer;
        uint sum = 0;
        for (int i = 0; i < Reads; i++)
            sum += Volatile.Read(ref *(uint*)(p + ((i * 64) & 0xFFF)));
        return sum;
    }
}
