using BenchmarkDotNet.Running;
using Hotplug.Benchmarks.Figures;

namespace Hotplug.Benchmarks;

/// <summary>
/// Two entry points:
/// <list type="bullet">
/// <item><c>figures [--quick] --bin DIR [--work DIR] [--vm-json FILE] [--only SUBSTRING]</c>: the custom measured
/// loops, each side by side with its C baseline (run from DIR), one line per figure on stdout:
/// <c>name ratio median_us p99_us</c> (ratio = ours / baseline, medians).</item>
/// <item><c>bdn [BenchmarkDotNet arguments]</c>: the BenchmarkDotNet suites (data path, scan, DMA), with the memory diagnoser.</item>
/// </list>
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "figures")
            return FigureRunner.Run(FigureOptions.Parse(args[1..]));
        if (args.Length > 0 && args[0] == "bdn")
        {
            BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args[1..]);
            return 0;
        }
        Console.Error.WriteLine("usage: Hotplug.Benchmarks figures [--quick] --bin DIR [--work DIR] [--vm-json FILE] [--only SUBSTRING]");
        Console.Error.WriteLine("       Hotplug.Benchmarks bdn [BenchmarkDotNet arguments, e.g. --filter '*']");
        return 2;
    }
}
