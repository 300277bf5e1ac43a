namespace Hotplug.Tests.Uevents;

/// <summary>
/// Triggers harmless real kernel uevents by writing to sysfs <c>uevent</c> files of virtual devices
/// (never anything under /sys/bus/pci). <c>change UUID</c> makes the kernel add <c>SYNTH_UUID=UUID</c>, so a
/// test can recognise its own event among those other processes trigger.
/// </summary>
internal static class SysfsUevent
{
    public const string Loopback = "/sys/class/net/lo/uevent";
    public const string LoopbackDevPath = "/devices/virtual/net/lo";
    public const string DevNull = "/sys/class/mem/null/uevent";

    public static string Change(string ueventFile)
    {
        string uuid = Guid.NewGuid().ToString("D");
        File.WriteAllText(ueventFile, "change " + uuid);
        return uuid;
    }
}
