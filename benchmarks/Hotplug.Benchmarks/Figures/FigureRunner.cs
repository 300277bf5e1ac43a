using System.Globalization;
using System.Text;

namespace Hotplug.Benchmarks.Figures;

/// <summary>Runs every figure group, prints one line per primary figure, writes results.tsv and results.md.</summary>
public static class FigureRunner
{
    public static int Run(FigureOptions o)
    {
        Directory.CreateDirectory(o.WorkDir);
        Baseline.Pin = o.Pin;
        var groups = new (string Name, Func<FigureOptions, IEnumerable<FigureResult>> Run)[]
        {
            ("datapath", DataPathFigure.Run),
            ("fault", FaultFigures.Run),
            ("uevent", UeventFigure.Run),
            ("scan", ScanFigure.Run),
            ("dma", DmaFigures.Run),
            ("vm", VmFigures.Run),
        };
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?";
        Console.WriteLine($"# hotplug benchmarks ({(o.Quick ? "quick" : "full")}, rounds {o.Rounds}, {(o.Pin ? "event thread on cpu 0, data path on the last cpu" : "unpinned")}) {DateTime.UtcNow:yyyy-MM-dd HH:mm}Z, {Environment.ProcessorCount} cpus, loadavg at start {load}");
        Console.WriteLine("# name ratio median_us p99_us   (ratio = ours / baseline, medians; details in " + Path.Combine(o.WorkDir, "results.tsv") + ")");
        var all = new List<FigureResult>();
        int failures = 0;
        foreach (var (name, run) in groups)
        {
            if (!o.Wants(name))
                continue;
            try
            {
                foreach (var f in run(o))
                {
                    all.Add(f);
                    if (f.Primary)
                        Console.WriteLine(f.Line());
                }
            }
            catch (Exception e)
            {
                failures++;
                Log.Info($"{name}: FAILED: {e}");
                Console.WriteLine($"{name} FAILED n/a n/a");
            }
        }
        string loadEnd = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?";
        Console.WriteLine($"# loadavg at end {loadEnd}");
        Write(o, all, load, loadEnd);
        return failures == 0 ? 0 : 1;
    }

    private static void Write(FigureOptions o, List<FigureResult> all, string load, string loadEnd)
    {
        var tsv = new StringBuilder();
        tsv.AppendLine(FigureResult.TsvHeader);
        foreach (var f in all)
            tsv.AppendLine(f.TsvRow());
        File.WriteAllText(Path.Combine(o.WorkDir, "results.tsv"), tsv.ToString());

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Run: {(o.Quick ? "quick" : "full")}, rounds {o.Rounds}, {(o.Pin ? "pinned (event/reader threads on CPU 0, measuring thread on the last CPU)" : "unpinned")}, {DateTime.UtcNow:yyyy-MM-dd HH:mm}Z, {Environment.ProcessorCount} CPUs, loadavg {load} -> {loadEnd}");
        md.AppendLine();
        md.AppendLine("| figure | ratio | ours median µs | ours p99 µs | baseline median µs | baseline p99 µs | n (ours/base) | target | baseline | note |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|---|---|");
        foreach (var f in all)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {(f.Primary ? "**" + f.Name + "**" : f.Name)} | {FigureResult.Fmt(f.Ratio, "0.00")} | {FigureResult.Fmt(f.Ours.MedianUs)} | {FigureResult.Fmt(f.Ours.P99Us)} | {FigureResult.Fmt(f.Baseline?.MedianUs ?? double.NaN)} | {FigureResult.Fmt(f.Baseline?.P99Us ?? double.NaN)} | {f.Ours.Count}/{f.Baseline?.Count ?? 0} | {f.Target} | {f.BaselineName} | {f.Note} |");
        }
        File.WriteAllText(Path.Combine(o.WorkDir, "results.md"), md.ToString());
    }
}
