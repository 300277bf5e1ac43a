using System.Runtime.InteropServices;

namespace Hotplug.Benchmarks;

/// <summary>
/// Places threads like a DPDK-style app does: helper threads (the Eal's event thread, created while this
/// thread sits on CPU 0, inherits CPU 0) on CPU 0 and the data-path thread (this one, after
/// <see cref="DataPath"/>) on the last CPU. Dispose lets this thread run anywhere again. A no-op when
/// disabled or on one CPU. The C baselines do the same with BENCH_PIN=1.
/// </summary>
public sealed unsafe partial class CpuSplit : IDisposable
{
    private readonly bool _on;

    private CpuSplit(bool on)
    {
        _on = on;
        if (_on)
            Pin(0);
    }

    public static bool Available => Environment.ProcessorCount >= 2;

    /// <summary>Pins this thread to CPU 0, so threads created now start there.</summary>
    public static CpuSplit Begin(bool enabled) => new(enabled && Available);

    /// <summary>Moves this thread to the last CPU (the data-path core).</summary>
    public void DataPath()
    {
        if (_on)
            Pin(Environment.ProcessorCount - 1);
    }

    public void Dispose()
    {
        if (_on)
            Pin(-1);
    }

    private static void Pin(int cpu)
    {
        Span<ulong> mask = stackalloc ulong[16];
        mask.Clear();
        int n = Math.Min(Environment.ProcessorCount, 64 * mask.Length);
        for (int c = 0; c < n; c++)
        {
            if (cpu < 0 || c == cpu)
                mask[c / 64] |= 1UL << (c % 64);
        }
        fixed (ulong* m = mask)
        {
            if (sched_setaffinity(0, (nint)(mask.Length * sizeof(ulong)), m) != 0)
                throw new InvalidOperationException($"sched_setaffinity failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nint cpusetsize, ulong* mask);
}
