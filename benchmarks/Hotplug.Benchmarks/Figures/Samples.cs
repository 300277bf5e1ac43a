namespace Hotplug.Benchmarks.Figures;

/// <summary>Samples in nanoseconds and their percentiles (nearest rank, the rule the C baselines print with).</summary>
public sealed class Samples
{
    private readonly List<long> _ns = [];
    private long[]? _sorted;

    public int Count => _summary?.N ?? _ns.Count;

    public IReadOnlyList<long> Values => _ns;

    public void Add(long ns)
    {
        _ns.Add(ns);
        _sorted = null;
    }

    public void AddRange(Samples other) => AddRange(other._ns.ToArray());

    public void AddRange(IEnumerable<long> ns)
    {
        _ns.AddRange(ns);
        _sorted = null;
    }

    private (double Median, double P99, int N)? _summary;

    /// <summary>Only a summary (median and p99 in µs) reported by someone else, e.g. the VM harness.</summary>
    public static Samples FromSummary(double medianUs, double p99Us, int n) => new() { _summary = (medianUs, p99Us, n) };

    /// <summary>The p-th percentile (0..100) in microseconds; NaN without samples.</summary>
    public double PercentileUs(double p)
    {
        if (_summary is { } s)
            return p == 50 ? s.Median : p == 99 ? s.P99 : double.NaN;
        if (_ns.Count == 0)
            return double.NaN;
        _sorted ??= [.. _ns.Order()];
        int rank = (int)Math.Ceiling(p / 100.0 * _sorted.Length - 1e-9);
        rank = Math.Clamp(rank, 1, _sorted.Length);
        return _sorted[rank - 1] / 1000.0;
    }

    public double MedianUs => PercentileUs(50);
    public double P99Us => PercentileUs(99);
}
