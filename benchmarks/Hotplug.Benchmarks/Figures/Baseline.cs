using System.Diagnostics;
using System.Globalization;

namespace Hotplug.Benchmarks.Figures;

/// <summary>Runs one C baseline program; it prints one sample (ns) per line on stdout and a summary on stderr.</summary>
public static class Baseline
{
    /// <summary>Sets BENCH_PIN=1 for the baselines (same thread placement as ours); see <see cref="CpuSplit"/>.</summary>
    public static bool Pin { get; set; }

    public static Samples Run(string binDir, string program, params string[] args)
    {
        var psi = new ProcessStartInfo(Path.Combine(binDir, program))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["BENCH_PIN"] = Pin ? "1" : "0";
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {program}");
        var stderr = p.StandardError.ReadToEndAsync();
        var samples = new Samples();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
        {
            if (long.TryParse(line, NumberStyles.Integer, CultureInfo.InvariantCulture, out long ns))
                samples.Add(ns);
        }
        p.WaitForExit();
        string err = stderr.Result.Trim();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"baseline {program} {string.Join(' ', args)} exited with {p.ExitCode}: {err}");
        if (err.Length > 0)
            Log.Info($"  baseline {err.ReplaceLineEndings(" | ")}");
        return samples;
    }
}

/// <summary>Progress on stderr, so stdout stays one line per figure.</summary>
public static class Log
{
    public static void Info(string s) => Console.Error.WriteLine(s);
}
