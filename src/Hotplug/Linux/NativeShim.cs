using System.Runtime.InteropServices;

namespace Hotplug.Linux;

/// <summary>P/Invokes into <c>libhotplug_shim.so</c> (native/hotplug_shim.h).</summary>
internal static partial class NativeShim
{
    private const string Lib = "hotplug_shim";

    /// <summary>The ABI this assembly was written against (HP_SHIM_ABI_VERSION).</summary>
    public const int AbiVersion = 1;

    public const int FillZero = 0;
    public const int FillOnes = 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct Fault
    {
        public ulong Cookie;
        public ulong Address;
        public ulong RangeStart;
        public long FaultNs;
        public long RemappedNs;
        public int ThreadId;
        public int Slot;
        public int SiCode;
        public int First;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Stats
    {
        public ulong FaultsHandled;
        public ulong FaultsChained;
        public ulong RingDropped;
        public ulong RemapFailed;
        public int Installed;
        public int Ranges;
    }

    [LibraryImport(Lib, EntryPoint = "hp_shim_abi_version")]
    public static partial int GetAbiVersion();

    [LibraryImport(Lib, EntryPoint = "hp_shim_version")]
    public static partial nint GetVersion();

    [LibraryImport(Lib, EntryPoint = "hp_sigbus_install")]
    public static partial int SigbusInstall();

    [LibraryImport(Lib, EntryPoint = "hp_sigbus_uninstall")]
    public static partial int SigbusUninstall();

    [LibraryImport(Lib, EntryPoint = "hp_sigbus_eventfd")]
    public static partial int SigbusEventFd();

    [LibraryImport(Lib, EntryPoint = "hp_range_add")]
    public static partial int RangeAdd(nint address, nuint length, ulong cookie, int fill);

    [LibraryImport(Lib, EntryPoint = "hp_range_remove")]
    public static partial int RangeRemove(int slot);

    [LibraryImport(Lib, EntryPoint = "hp_range_remap")]
    public static partial int RangeRemap(int slot);

    [LibraryImport(Lib, EntryPoint = "hp_range_is_remapped")]
    public static partial int RangeIsRemapped(int slot);

    [LibraryImport(Lib, EntryPoint = "hp_fault_read")]
    public static unsafe partial int FaultRead(Fault* faults, int max);

    [LibraryImport(Lib, EntryPoint = "hp_stats_get")]
    public static partial void StatsGet(out Stats stats);

    [LibraryImport(Lib, EntryPoint = "hp_monotonic_ns")]
    public static partial long MonotonicNs();

    /// <summary>The shim's version string, after checking that its ABI is the one we expect.</summary>
    public static string CheckedVersion()
    {
        int abi = GetAbiVersion();
        if (abi != AbiVersion)
            throw new InvalidOperationException($"libhotplug_shim.so has ABI {abi}, this assembly needs {AbiVersion}.");
        return Marshal.PtrToStringUTF8(GetVersion()) ?? "?";
    }
}
