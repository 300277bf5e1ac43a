using Microsoft.Extensions.Logging;

namespace Hotplug.WorkerSample;

/// <summary>What happened, in order (the sample logs it; the host test asserts the order).</summary>
public sealed class Timeline(ILogger<Timeline> logger)
{
    private readonly List<string> _entries = [];
    private readonly SemaphoreSlim _added = new(0);

    /// <summary>Everything so far.</summary>
    public IReadOnlyList<string> Entries
    {
        get { lock (_entries) return [.. _entries]; }
    }

    /// <summary>Adds an entry.</summary>
    public void Add(string entry)
    {
        lock (_entries)
            _entries.Add(entry);
        logger.LogInformation("{Entry}", entry);
        _added.Release();
    }

    /// <summary>Waits (bounded) until <paramref name="count"/> entries start with <paramref name="prefix"/>.</summary>
    public async Task<bool> WaitForAsync(string prefix, int count = 1, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (Entries.Count(e => e.StartsWith(prefix, StringComparison.Ordinal)) < count)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                return false;
            await _added.WaitAsync(left).ConfigureAwait(false);
        }
        return true;
    }
}
