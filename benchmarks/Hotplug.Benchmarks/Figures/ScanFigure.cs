using System.Diagnostics;
using System.Globalization;
using Hotplug.Pci;

namespace Hotplug.Benchmarks.Figures;

/// <summary>
/// scan: generated trees of 256, 1,024 and 4,096 functions read by a fresh PciBus's first Scan() (sysfs
/// reading, parsing, one PciDevice per function) against the C scanner reading the same files; plus the
/// growth: per-function time at 4,096 over per-function time at 256 (1.0 = linear).
/// </summary>
public static class ScanFigure
{
    private static readonly int[] Sizes = [256, 1024, 4096];

    public static IEnumerable<FigureResult> Run(FigureOptions o)
    {
        string parent = Path.Combine(o.WorkDir, "sysfs");
        var perDevice = new Dictionary<int, Samples>();
        var results = new List<FigureResult>();
        foreach (int count in Sizes)
        {
            string devices = SysfsTree.Ensure(parent, count);
            // Quick: 8 / 3 / 2 scans per side; full: 10x.
            int n = Math.Max(count >= 4096 ? 2 : 3, 2048 / count) * o.Scale / o.Rounds;
            n = Math.Max(n, 2);
            var ours = new Samples();
            var scanner = new Samples();
            var c = new Samples();
            for (int r = 0; r < o.Rounds; r++)
            {
                c.AddRange(Baseline.Run(o.BinDir, "scan", devices, n.ToString(CultureInfo.InvariantCulture)));
                Managed(devices, count, n, ours, scanner);
            }
            Log.Info($"scan_{count}: PciBus.Scan {FigureResult.Fmt(ours.MedianUs / 1000)} ms, SysfsPciScanner.ScanAll {FigureResult.Fmt(scanner.MedianUs / 1000)} ms, C {FigureResult.Fmt(c.MedianUs / 1000)} ms");
            results.Add(new FigureResult($"scan_{count}", ours, c, "<= 1.5x", "C scanner (openat/read/readlinkat) over the same tree",
                $"{ExceptionsPerScan(devices)} first-chance exceptions per scan of {count} functions"));
            results.Add(new FigureResult($"info_scan_scanner_only_{count}", scanner, c, "-", "C scanner", "SysfsPciScanner.ScanAll alone", Primary: false));
            var pd = new Samples();
            pd.AddRange(ours.Values.Select(v => v / count));
            perDevice[count] = pd;
        }
        var growth = perDevice[4096];
        results.Add(new FigureResult("scan_growth_256_to_4096", growth, perDevice[256], "~1.0 (linear)",
            "our per-function time at 256 functions", "ratio = per-function time at 4,096 / at 256; times are per function")
        { RatioOverride = growth.MedianUs / perDevice[256].MedianUs });
        return results;
    }

    private static void Managed(string devices, int count, int n, Samples bus, Samples scanner)
    {
        var options = new PciBusOptions { SysfsRoot = devices, DevRoot = "/nonexistent" };
        // Warm-up (tiering) on the same tree.
        for (int i = 0; i < 2; i++)
            Check(new PciBus(options).Scan().Added.Count, count);
        for (int i = 0; i < n; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            int found = new PciBus(options).Scan().Added.Count;
            bus.Add(Stopwatch.GetTimestamp() - t0);
            Check(found, count);
            var errors = new List<string>();
            t0 = Stopwatch.GetTimestamp();
            found = new SysfsPciScanner(devices).ScanAll(errors).Count;
            scanner.Add(Stopwatch.GetTimestamp() - t0);
            Check(found, count);
        }
    }

    /// <summary>How many exceptions one PciBus scan throws and catches internally (missing optional attributes).</summary>
    private static int ExceptionsPerScan(string devices)
    {
        int n = 0;
        void Count(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e) => Interlocked.Increment(ref n);
        AppDomain.CurrentDomain.FirstChanceException += Count;
        try
        {
            new PciBus(new PciBusOptions { SysfsRoot = devices, DevRoot = "/nonexistent" }).Scan();
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= Count;
        }
        return n;
    }

    private static void Check(int found, int count)
    {
        if (found != count)
            throw new InvalidOperationException($"scan found {found} functions, the tree has {count}");
    }
}
