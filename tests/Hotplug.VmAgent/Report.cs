using System.Diagnostics;
using System.Text.Json;

namespace Hotplug.VmAgent;

/// <summary>
/// Writes the agent's results as JSON lines on stdout, one object per line, each with its type ("t") and
/// the guest's CLOCK_MONOTONIC time in milliseconds ("ms"). One write per line keeps lines whole on the
/// guest's control channel. No reflection: works under NativeAOT.
/// </summary>
internal static class Report
{
    private static readonly Lock Gate = new();
    private static readonly Stream Out = Console.OpenStandardOutput();

    /// <summary>CLOCK_MONOTONIC in milliseconds (Stopwatch is CLOCK_MONOTONIC on Linux).</summary>
    public static double NowMs() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    public static void Emit(string type, Action<Utf8JsonWriter>? fields = null)
    {
        var buffer = new MemoryStream(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("t", type);
            w.WriteNumber("ms", Math.Round(NowMs(), 3));
            fields?.Invoke(w);
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        lock (Gate)
        {
            Out.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
            Out.Flush();
        }
    }

    /// <summary>One "event" line for a device event (the host matches on dev, type and source).</summary>
    public static void Event(Hotplug.DeviceEvent e) =>
        Emit("event", w =>
        {
            w.WriteString("dev", e.DeviceName);
            w.WriteString("type", e.Type.ToString());
            w.WriteString("source", e.Source.ToString());
            w.WriteNumber("sig_ms", e.TimestampNs / 1e6);
            if (e.PublishedNs != 0) w.WriteNumber("pub_ms", e.PublishedNs / 1e6);
        });

    public static void Error(string message, Exception? e = null) =>
        Emit("error", w =>
        {
            w.WriteString("msg", message);
            if (e != null) w.WriteString("exception", e.ToString());
        });
}
