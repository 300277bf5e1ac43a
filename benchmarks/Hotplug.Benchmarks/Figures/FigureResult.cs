using System.Globalization;

namespace Hotplug.Benchmarks.Figures;

/// <summary>One published figure: ours against its baseline, measured in the same run.</summary>
/// <param name="Name">Stable name, the first column of the output.</param>
/// <param name="Ours">Our samples.</param>
/// <param name="Baseline">The baseline's samples (null when the figure has none, e.g. a VM figure not run).</param>
/// <param name="Target">The target from issue 7, as text (for the report).</param>
/// <param name="BaselineName">What the baseline is.</param>
/// <param name="Note">Anything a reader must know (load, lost samples, ...).</param>
/// <param name="Primary">True for the figures issue 7 asks for (printed on stdout); false for breakdowns (report only).</param>
public sealed record FigureResult(string Name, Samples Ours, Samples? Baseline, string Target, string BaselineName, string Note = "",
    bool Primary = true)
{
    /// <summary>Overrides the ratio (figures whose ratio is not ours/baseline medians).</summary>
    public double? RatioOverride { get; init; }

    public double Ratio => RatioOverride ?? (Baseline is { Count: > 0 } b && Ours.Count > 0 ? Ours.MedianUs / b.MedianUs : double.NaN);

    public static string Fmt(double v, string format = "0.000") =>
        double.IsNaN(v) ? "n/a" : v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary><c>name ratio median_us p99_us</c>.</summary>
    public string Line() => $"{Name} {Fmt(Ratio, "0.00")} {Fmt(Ours.MedianUs)} {Fmt(Ours.P99Us)}";

    public string TsvRow() => string.Join('\t', Name, Fmt(Ratio, "0.00"), Fmt(Ours.MedianUs), Fmt(Ours.P99Us),
        Fmt(Baseline?.MedianUs ?? double.NaN), Fmt(Baseline?.P99Us ?? double.NaN), Ours.Count.ToString(CultureInfo.InvariantCulture),
        Baseline?.Count.ToString(CultureInfo.InvariantCulture) ?? "0", Target, BaselineName, Note);

    public const string TsvHeader = "name\tratio\tmedian_us\tp99_us\tbaseline_median_us\tbaseline_p99_us\tn\tbaseline_n\ttarget\tbaseline\tnote";
}
