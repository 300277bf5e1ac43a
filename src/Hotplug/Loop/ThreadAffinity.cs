using Hotplug.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Loop;

/// <summary>Pins the calling thread to a set of CPUs (sched_setaffinity on the thread itself).</summary>
internal static unsafe class ThreadAffinity
{
    /// <summary>The CPUs a <c>cpu_set_t</c> holds (1024).</summary>
    public const int MaxCpus = 8 * 128;

    /// <summary>Checks a CPU list before any thread is started; the message names the option to fix.</summary>
    /// <exception cref="ArgumentException">Empty, or a CPU number outside 0..1023.</exception>
    public static void Validate(IReadOnlyCollection<int> cpus, string option)
    {
        if (cpus.Count == 0)
            throw new ArgumentException($"{option} is empty: give at least one CPU, or null for the process's own.", option);
        foreach (int cpu in cpus)
        {
            if (cpu < 0 || cpu >= MaxCpus)
                throw new ArgumentException($"{option} has CPU {cpu}: CPUs are numbered 0..{MaxCpus - 1}.", option);
        }
    }

    /// <summary>Restricts the calling thread to <paramref name="cpus"/>; returns 0 or the errno of sched_setaffinity.</summary>
    public static int TryApply(IReadOnlyCollection<int> cpus)
    {
        cpu_set_t set = default;
        ulong* bits = (ulong*)&set;
        foreach (int cpu in cpus)
            bits[cpu / 64] |= 1UL << (cpu % 64);
        return sched_setaffinity(0, (size_t)sizeof(cpu_set_t), &set) == 0 ? 0 : Sys.LastErrno;
    }

    /// <summary>The CPUs the calling thread may run on now (sched_getaffinity), for messages and tests.</summary>
    public static int[] Current()
    {
        cpu_set_t set = default;
        if (sched_getaffinity(0, (size_t)sizeof(cpu_set_t), &set) != 0)
            throw Sys.IoError("sched_getaffinity");
        ulong* bits = (ulong*)&set;
        var cpus = new List<int>();
        for (int cpu = 0; cpu < MaxCpus; cpu++)
        {
            if ((bits[cpu / 64] & (1UL << (cpu % 64))) != 0)
                cpus.Add(cpu);
        }
        return [.. cpus];
    }
}
