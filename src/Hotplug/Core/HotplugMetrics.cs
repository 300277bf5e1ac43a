using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Hotplug.Uevents;

namespace Hotplug;

/// <summary>
/// The instruments of the <c>Hotplug</c> meter (<see cref="System.Diagnostics.Metrics"/>): removals by source, faults
/// recovered, uevents received and dropped, overflow resyncs, callback failures and the signal-to-callback latency.
/// Watch them with <c>dotnet-counters monitor --counters Hotplug -n APP</c>; see docs/metrics.md.
/// </summary>
public static class HotplugMeter
{
    /// <summary>The meter's name: <c>Hotplug</c>.</summary>
    public const string Name = "Hotplug";

    /// <summary>Counter: devices removed, one per removal, tagged <c>source</c> (the signal that told first).</summary>
    public const string Removals = "hotplug.removals";

    /// <summary>Counter: SIGBUS faults on a vanished BAR that the shim survived.</summary>
    public const string FaultsRecovered = "hotplug.faults.recovered";

    /// <summary>Counter: datagrams read from the uevent socket.</summary>
    public const string UeventsReceived = "hotplug.uevents.received";

    /// <summary>Counter: datagrams the uevent socket dropped, tagged <c>reason</c> (<c>malformed</c>, <c>not_kernel</c>, <c>oversized</c>).</summary>
    public const string UeventsDropped = "hotplug.uevents.dropped";

    /// <summary>Counter: rescans run because the kernel overflowed the uevent socket buffer (ENOBUFS).</summary>
    public const string Resyncs = "hotplug.uevents.resyncs";

    /// <summary>Counter: device-event callbacks that threw.</summary>
    public const string CallbackFailures = "hotplug.callbacks.failed";

    /// <summary>Histogram (ms): from the signal (the fault, the uevent, the hang-up) to the start of the event's callbacks, tagged <c>type</c> and <c>source</c>.</summary>
    public const string CallbackLatency = "hotplug.callbacks.latency";
}

/// <summary>One <see cref="Eal"/>'s instruments. Recording with no listener costs a branch.</summary>
internal sealed class HotplugMetrics : IDisposable
{
    private static readonly string[] s_sources = [.. Enum.GetValues<DeviceEventSource>().Select(Tag)];
    private static readonly string[] s_types = [.. Enum.GetValues<DeviceEventType>().Select(t => t.ToString().ToLowerInvariant())];
    private readonly bool _ownsMeter;
    private readonly Counter<long> _removals;
    private readonly Counter<long> _faults;
    private readonly Counter<long> _ueventsReceived;
    private readonly Counter<long> _ueventsDropped;
    private readonly Counter<long> _resyncs;
    private readonly Counter<long> _callbackFailures;
    private readonly Histogram<double> _latency;

    public HotplugMetrics(IMeterFactory? factory)
    {
        string? version = typeof(HotplugMetrics).Assembly.GetName().Version?.ToString();
        _ownsMeter = factory is null;
        Meter = factory?.Create(new MeterOptions(HotplugMeter.Name) { Version = version }) ?? new Meter(HotplugMeter.Name, version);
        _removals = Meter.CreateCounter<long>(HotplugMeter.Removals, "{removal}", "Device removals, one per removal, by the signal that told first");
        _faults = Meter.CreateCounter<long>(HotplugMeter.FaultsRecovered, "{fault}", "SIGBUS faults on vanished BARs survived");
        _ueventsReceived = Meter.CreateCounter<long>(HotplugMeter.UeventsReceived, "{uevent}", "Datagrams read from the uevent socket");
        _ueventsDropped = Meter.CreateCounter<long>(HotplugMeter.UeventsDropped, "{uevent}", "Datagrams the uevent socket dropped, by reason");
        _resyncs = Meter.CreateCounter<long>(HotplugMeter.Resyncs, "{rescan}", "Rescans after the kernel overflowed the uevent socket buffer");
        _callbackFailures = Meter.CreateCounter<long>(HotplugMeter.CallbackFailures, "{callback}", "Device-event callbacks that threw");
        _latency = Meter.CreateHistogram<double>(HotplugMeter.CallbackLatency, "ms", "From the signal to the start of the event's callbacks",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000] });
    }

    /// <summary>The meter (named <see cref="HotplugMeter.Name"/>); tests listen to this instance only.</summary>
    public Meter Meter { get; }

    internal static string Tag(DeviceEventSource source) => source switch
    {
        DeviceEventSource.VfioRequest => "vfio_request",
        _ => source.ToString().ToLowerInvariant(),
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public void Removal(DeviceEventSource source)
    {
        if (_removals.Enabled)
            _removals.Add(1, new KeyValuePair<string, object?>("source", s_sources[(int)source]));
    }

    public void FaultRecovered()
    {
        if (_faults.Enabled)
            _faults.Add(1);
    }

    public void Received(UeventStats counts)
    {
        if (counts.Received > 0)
            _ueventsReceived.Add(counts.Received);
        Dropped(counts.DroppedMalformed, "malformed");
        Dropped(counts.DroppedNotKernel, "not_kernel");
        Dropped(counts.DroppedOversized, "oversized");
    }

    private void Dropped(long n, string reason)
    {
        if (n > 0)
            _ueventsDropped.Add(n, new KeyValuePair<string, object?>("reason", reason));
    }

    public void Resync() => _resyncs.Add(1);

    public void CallbackFailed() => _callbackFailures.Add(1);

    /// <summary>The event's callbacks are about to run: records how long after its signal.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public void CallbacksStarting(DeviceEvent e)
    {
        if (!_latency.Enabled || e.TimestampNs <= 0)
            return;
        double ms = (BusHost.MonotonicNs() - e.TimestampNs) / 1e6;
        _latency.Record(Math.Max(ms, 0), new KeyValuePair<string, object?>("type", s_types[(int)e.Type]),
            new KeyValuePair<string, object?>("source", s_sources[(int)e.Source]));
    }

    public void Dispose()
    {
        if (_ownsMeter)
            Meter.Dispose();
    }
}
