using System.Diagnostics;
using System.Text.Json;

namespace Hotplug.VmTests;

/// <summary>One JSON object received from the guest or from QEMU, with the host time it arrived.</summary>
/// <param name="Index">Position in the log (0-based); use it as a cursor for "after this point".</param>
/// <param name="HostMs">Host monotonic milliseconds (see <see cref="JsonLineLog.NowMs"/>) at arrival.</param>
public sealed record JsonMessage(int Index, double HostMs, JsonElement Json, string Raw)
{
    public string? Str(string name) =>
        Json.ValueKind == JsonValueKind.Object && Json.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString() : null;

    public override string ToString() => $"[{HostMs,10:F1} ms] {Raw}";
}

/// <summary>
/// An append-only, thread-safe list of JSON messages that tests can wait on with a timeout.
/// Lines that are not JSON objects are kept as text only (<see cref="Text"/>).
/// </summary>
public sealed class JsonLineLog
{
    private static readonly long Origin = Stopwatch.GetTimestamp();
    private readonly object _gate = new();
    private readonly List<JsonMessage> _messages = new();
    private readonly System.Text.StringBuilder _text = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _closedReason;

    /// <summary>Host monotonic milliseconds, comparable across every log in this process.</summary>
    public static double NowMs() => Stopwatch.GetElapsedTime(Origin).TotalMilliseconds;

    public int Count { get { lock (_gate) return _messages.Count; } }

    public string Text { get { lock (_gate) return _text.ToString(); } }

    public IReadOnlyList<JsonMessage> Snapshot() { lock (_gate) return _messages.ToArray(); }

    public void AddLine(string line)
    {
        double t = NowMs();
        JsonElement? json = null;
        string trimmed = line.Trim();
        if (trimmed.StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(trimmed);
                json = doc.RootElement.Clone();
            }
            catch (JsonException) { }
        }
        TaskCompletionSource wake;
        lock (_gate)
        {
            _text.Append(t.ToString("F1").PadLeft(10)).Append(" ms  ").AppendLine(line);
            if (json is { } j) _messages.Add(new JsonMessage(_messages.Count, t, j, trimmed));
            wake = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        wake.TrySetResult();
    }

    /// <summary>Marks the source as gone (process exit, socket closed): waiters fail at once.</summary>
    public void Close(string reason)
    {
        TaskCompletionSource wake;
        lock (_gate)
        {
            _closedReason ??= reason;
            wake = _changed;
        }
        wake.TrySetResult();
    }

    /// <summary>Waits for the first message at index &gt;= <paramref name="from"/> that matches.</summary>
    public async Task<JsonMessage> WaitAsync(Func<JsonMessage, bool> match, TimeSpan timeout, int from = 0, string? what = null)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        int next = from;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                for (; next < _messages.Count; next++)
                    if (match(_messages[next])) return _messages[next];
                if (_closedReason != null)
                    throw new GuestException($"waiting for {what ?? "a message"}: source closed ({_closedReason})");
                changed = _changed.Task;
            }
            var left = TimeSpan.FromSeconds((deadline - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:F1} s waiting for {what ?? "a message"}");
            await Task.WhenAny(changed, Task.Delay(left)).ConfigureAwait(false);
        }
    }
}
