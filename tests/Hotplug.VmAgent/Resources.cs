using System.Text.Json;

namespace Hotplug.VmAgent;

/// <summary>
/// What this process holds: open fds and /proc/self/maps lines, and those of them that belong to a PCI
/// device (a sysfs resource file, /dev/uioN, a vfio group or device), and apart from them Hotplug's dead-memory
/// fill that replaces a removed BAR. Lets the host check that detach lets go of everything and that cycles leak nothing.
/// </summary>
internal static class Resources
{
    /// <summary>The shim's all-0xFF memfd: one fd for the whole process, kept on purpose (not a device fd).</summary>
    private const string FillMemfd = "hotplug-ones";

    /// <summary>
    /// This process, after a full collection: a detached BAR stays mapped to dead memory while its MappedBar is
    /// reachable (no hole under a late reader) and is unmapped by its finalizer, so what is left after the GC is
    /// what is really held.
    /// </summary>
    public static void Write(Utf8JsonWriter w)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Write(w, "/proc/self", "");
    }

    /// <summary>The same for another process (<paramref name="proc"/> is <c>/proc/PID</c>), its fields named with <paramref name="prefix"/>.</summary>
    public static void Write(Utf8JsonWriter w, string proc, string prefix)
    {
        var fdTargets = new List<string>();
        foreach (string fd in Directory.GetFiles(proc + "/fd"))
        {
            try { fdTargets.Add(new FileInfo(fd).LinkTarget ?? ""); }
            catch (IOException) { } // the enumeration's own fd, closed meanwhile
        }
        string[] maps = File.ReadAllLines(proc + "/maps");
        var devFds = fdTargets.Where(t => IsDevice(t) && !t.Contains(FillMemfd, StringComparison.Ordinal)).ToList();
        var devMaps = maps.Where(IsDevice).ToList();
        // Dead memory that replaced a detached BAR: not the device; it stays while the app can still reach the
        // MappedBar (no hole under a late reader) and goes with the collection above once it cannot.
        int fillMaps = maps.Count(l => l.Contains(FillMemfd, StringComparison.Ordinal));
        w.WriteNumber(prefix + "fds", fdTargets.Count);
        w.WriteNumber(prefix + "maps", maps.Length);
        w.WriteNumber(prefix + "dev_fds", devFds.Count);
        w.WriteNumber(prefix + "dev_maps", devMaps.Count);
        w.WriteNumber(prefix + "fill_maps", fillMaps);
        string? locked = File.ReadLines(proc + "/status").FirstOrDefault(l => l.StartsWith("VmLck:", StringComparison.Ordinal));
        w.WriteString(prefix + "locked", locked?["VmLck:".Length..].Trim() ?? "?");
        if (devFds.Count + devMaps.Count > 0)
            w.WriteString(prefix + "dev_detail", string.Join(" | ", devFds.Concat(devMaps.Select(l => l.Length > 120 ? l[^120..] : l))));
    }

    private static bool IsDevice(string s) =>
        s.Contains("/dev/uio", StringComparison.Ordinal)
        || s.Contains("vfio", StringComparison.Ordinal)
        || (s.Contains("/sys/devices/pci", StringComparison.Ordinal) && s.Contains("/resource", StringComparison.Ordinal));
}
