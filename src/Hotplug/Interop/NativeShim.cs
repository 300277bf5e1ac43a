using System.Runtime.InteropServices;

namespace Hotplug.Interop;

/// <summary>P/Invokes into <c>libhotplug_shim.so</c>, with the C names of native/hotplug_shim.h.</summary>
internal static partial class NativeShim
{
    private const string Lib = "hotplug_shim";

    /// <summary>The ABI this assembly was written against (HP_SHIM_ABI_VERSION).</summary>
    public const int HP_SHIM_ABI_VERSION = 2;

    public const int HP_FILL_ZERO = 0;
    public const int HP_FILL_ONES = 1;

    private static ulong s_lastCookie;

    /// <summary>
    /// A fault cookie unique in the process (the shim, its range table and its fault ring are process-wide, so
    /// is this counter): a record names the one mapping that faulted, even after the address is reused.
    /// </summary>
    public static ulong NextCookie() => Interlocked.Increment(ref s_lastCookie);

    /// <summary><c>struct hp_fault</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct hp_fault
    {
        public ulong cookie;
        public ulong address;
        public ulong range_start;
        public long fault_ns;
        public long remapped_ns;
        public int thread_id;
        public int slot;
        public int si_code;
        public int first;
    }

    /// <summary><c>struct hp_stats</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct hp_stats
    {
        public ulong faults_handled;
        public ulong faults_chained;
        public ulong ring_dropped;
        public ulong remap_failed;
        public int installed;
        public int ranges;
    }

    [LibraryImport(Lib)]
    public static partial int hp_shim_abi_version();

    [LibraryImport(Lib)]
    public static partial nint hp_shim_version();

    [LibraryImport(Lib)]
    public static partial int hp_sigbus_install();

    [LibraryImport(Lib)]
    public static partial int hp_sigbus_uninstall();

    [LibraryImport(Lib)]
    public static partial int hp_sigbus_eventfd();

    [LibraryImport(Lib)]
    public static partial int hp_range_add(nint address, nuint length, ulong cookie, int fill);

    [LibraryImport(Lib)]
    public static partial int hp_range_remove(int slot);

    [LibraryImport(Lib)]
    public static partial int hp_range_remap(int slot);

    [LibraryImport(Lib)]
    public static partial void hp_retired_forget(nint address);

    [LibraryImport(Lib)]
    public static partial int hp_range_is_remapped(int slot);

    [LibraryImport(Lib)]
    public static unsafe partial int hp_fault_read(hp_fault* faults, int max);

    [LibraryImport(Lib)]
    public static partial ulong hp_fault_produced();

    [LibraryImport(Lib)]
    public static partial ulong hp_fault_consumed();

    [LibraryImport(Lib)]
    public static partial void hp_stats_get(out hp_stats stats);

    [LibraryImport(Lib)]
    public static partial long hp_monotonic_ns();

    /// <summary>The shim's version string, after checking that its ABI is the one we expect.</summary>
    public static string CheckedVersion()
    {
        int abi = hp_shim_abi_version();
        if (abi != HP_SHIM_ABI_VERSION)
            throw new InvalidOperationException($"libhotplug_shim.so has ABI {abi}, this assembly needs {HP_SHIM_ABI_VERSION}: deploy the shim built with it.");
        return Marshal.PtrToStringUTF8(hp_shim_version()) ?? "?";
    }
}
