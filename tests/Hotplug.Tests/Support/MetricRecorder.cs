using System.Diagnostics.Metrics;

namespace Hotplug.Tests.Support;

/// <summary>Records what one meter instance measures (a MeterListener filtered to it, so other Eals in the process do not count).</summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<Measurement> _measurements = [];

    public MetricRecorder(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == meter)
                l.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    public sealed record Measurement(string Name, double Value, IReadOnlyDictionary<string, object?> Tags);

    public IReadOnlyList<Measurement> Get(string name)
    {
        lock (_measurements)
            return [.. _measurements.Where(m => m.Name == name)];
    }

    public double Sum(string name, string? tag = null, object? value = null) =>
        Get(name).Where(m => tag is null || Equals(m.Tags.GetValueOrDefault(tag), value)).Sum(m => m.Value);

    private void Add(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var m = new Measurement(i.Name, v, new Dictionary<string, object?>(tags.ToArray()));
        lock (_measurements)
            _measurements.Add(m);
    }

    public void Dispose() => _listener.Dispose();
}
