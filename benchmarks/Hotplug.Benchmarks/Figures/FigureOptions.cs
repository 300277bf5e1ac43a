using System.Globalization;

namespace Hotplug.Benchmarks.Figures;

/// <summary>Command line of the <c>figures</c> mode.</summary>
public sealed class FigureOptions
{
    public bool Quick { get; private set; }
    public string BinDir { get; private set; } = "";
    public string WorkDir { get; private set; } = Path.Combine("artifacts", "bench");
    public string? VmJson { get; private set; }
    public string? Only { get; private set; }
    /// <summary>Rounds: each figure alternates baseline and ours this many times and pools the samples (noise spreads over both).</summary>
    public int Rounds { get; private set; }
    /// <summary>Event/reader threads on CPU 0, the measuring (data-path) thread on the last CPU, on both sides (default with 2+ CPUs).</summary>
    public bool Pin { get; private set; } = CpuSplit.Available;

    /// <summary>Scales iteration counts: quick = 1, full = 10.</summary>
    public int Scale => Quick ? 1 : 10;

    public static FigureOptions Parse(string[] args)
    {
        var o = new FigureOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--quick": o.Quick = true; break;
                case "--no-pin": o.Pin = false; break;
                case "--bin": o.BinDir = Next(); break;
                case "--work": o.WorkDir = Next(); break;
                case "--vm-json": o.VmJson = Next(); break;
                case "--only": o.Only = Next(); break;
                case "--rounds": o.Rounds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (o.BinDir.Length == 0)
            throw new ArgumentException("--bin DIR (the built C baselines) is required");
        if (o.Rounds <= 0)
            o.Rounds = o.Quick ? 1 : 3;
        return o;
    }

    public bool Wants(string group) => Only is null || group.Contains(Only, StringComparison.Ordinal) || Only.Contains(group, StringComparison.Ordinal);
}
