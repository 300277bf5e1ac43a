using System.Globalization;

namespace Hotplug.Pci;

/// <summary>
/// Reads PCI functions from a sysfs tree laid out like <c>/sys/bus/pci/devices</c> (entries are usually
/// symlinks to the real device directories). Read-only: it never writes to sysfs.
/// </summary>
public sealed class SysfsPciScanner(string root)
{
    /// <summary>The directory scanned (for example <c>/sys/bus/pci/devices</c>).</summary>
    public string Root { get; } = root;

    /// <summary>Reads every function under <see cref="Root"/>. A bad entry is reported in <paramref name="errors"/> and skipped.</summary>
    public List<PciDeviceInfo> ScanAll(List<string> errors)
    {
        var found = new List<PciDeviceInfo>();
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateFileSystemEntries(Root).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SysfsFormatException(Root, "cannot list the PCI devices directory", e);
        }
        foreach (var entry in entries)
        {
            string name = Path.GetFileName(entry);
            if (name.StartsWith('.'))
                continue;
            if (!PciAddress.TryParse(name, out var address, out string? why))
            {
                errors.Add($"{entry}: not a PCI address ({why}), skipped");
                continue;
            }
            if (name != address.ToString())
            {
                // Read() goes by the canonical name; the kernel never uses another, so say so instead of a silent miss.
                errors.Add($"{entry}: not the canonical name {address} of that PCI address, skipped");
                continue;
            }
            try
            {
                found.Add(Read(address));
            }
            catch (SysfsFormatException e)
            {
                errors.Add(e.Message);
            }
            catch (DirectoryNotFoundException)
            {
                // Vanished between listing and reading: a hot removal in progress. Not an error.
            }
        }
        found.Sort((a, b) => a.Address.CompareTo(b.Address));
        return found;
    }

    /// <summary>True if the function's directory exists.</summary>
    public bool Exists(PciAddress address) => Directory.Exists(Path.Combine(Root, address.ToString()));

    /// <summary>Reads one function. Throws <see cref="SysfsFormatException"/> naming the bad file.</summary>
    /// <exception cref="DirectoryNotFoundException">The function is not there.</exception>
    public PciDeviceInfo Read(PciAddress address)
    {
        string path = Path.Combine(Root, address.ToString());
        using var dir = SysfsDirectory.Open(path); // attributes are read relative to it
        string? driver = dir.LinkName("driver");
        return new PciDeviceInfo
        {
            Address = address,
            SysfsPath = path,
            VendorId = (ushort)(ReadHex(dir, "vendor", 0xFFFF) ?? throw Missing(dir, "vendor")),
            DeviceId = (ushort)(ReadHex(dir, "device", 0xFFFF) ?? throw Missing(dir, "device")),
            SubsystemVendorId = (ushort?)ReadHex(dir, "subsystem_vendor", 0xFFFF),
            SubsystemDeviceId = (ushort?)ReadHex(dir, "subsystem_device", 0xFFFF),
            ClassCode = (uint?)ReadHex(dir, "class", 0xFFFFFF),
            Revision = (byte?)ReadHex(dir, "revision", 0xFF),
            NumaNode = ReadInt(dir, "numa_node") ?? -1,
            Resources = dir.ReadText("resource") is { } res ? ParseResources(dir.PathOf("resource"), res) : [],
            KernelDriverName = driver,
            KernelDriver = Classify(driver),
            IommuGroup = dir.LinkName("iommu_group") is { } g && int.TryParse(g, out int n) ? n : null,
            DriverOverride = dir.ReadText("driver_override") is { } o && o != "(null)" && o.Length > 0 ? o : null,
            NumVfs = ReadInt(dir, "sriov_numvfs") ?? ReadInt(dir, "max_vfs"),
            TotalVfs = ReadInt(dir, "sriov_totalvfs"),
            UioName = FirstUio(dir.PathOf("uio")),
        };
    }

    /// <summary>Maps a kernel driver name to the kinds Hotplug knows.</summary>
    public static PciKernelDriver Classify(string? driver) => driver switch
    {
        null => PciKernelDriver.None,
        "uio_pci_generic" => PciKernelDriver.UioPciGeneric,
        "igb_uio" => PciKernelDriver.IgbUio,
        "vfio-pci" => PciKernelDriver.VfioPci,
        _ => PciKernelDriver.Other,
    };

    /// <summary>Parses a sysfs <c>resource</c> file. Lines are <c>start end flags</c> in hex.</summary>
    public static List<BarInfo> ParseResources(string path, string text)
    {
        var list = new List<BarInfo>();
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0)
                continue;
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length != 3 || !Hex64(f[0], out ulong start) || !Hex64(f[1], out ulong end) || !Hex64(f[2], out ulong flags))
                throw new SysfsFormatException(path, $"line {i + 1} is not 'start end flags' in hex: '{Printable(line)}'");
            if (end < start && !(start == 0 && end == 0))
                throw new SysfsFormatException(path, $"line {i + 1}: end 0x{end:x} is below start 0x{start:x}");
            list.Add(new BarInfo(list.Count, start, end, flags));
        }
        return list;
    }

    private static bool Hex64(string s, out ulong v)
    {
        var span = s.AsSpan();
        if (span.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            span = span[2..];
        return ulong.TryParse(span, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v);
    }

    private static SysfsFormatException Missing(SysfsDirectory dir, string file) => new(dir.PathOf(file), "missing");

    /// <summary>The file's hex number, or null when the file is absent (never an invented 0).</summary>
    private static ulong? ReadHex(SysfsDirectory dir, string file, ulong max)
    {
        string? text = dir.ReadText(file);
        if (text is null)
            return null;
        if (!Hex64(text, out ulong v) || v > max)
            throw new SysfsFormatException(dir.PathOf(file), $"expected a hex number up to 0x{max:x}, found '{Printable(text)}'");
        return v;
    }

    private static int? ReadInt(SysfsDirectory dir, string file)
    {
        string? text = dir.ReadText(file);
        if (text is null)
            return null;
        return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new SysfsFormatException(dir.PathOf(file), $"expected a decimal number, found '{Printable(text)}'");
    }

    private static string? FirstUio(string uioDir)
    {
        if (!Directory.Exists(uioDir))
            return null;
        return Directory.EnumerateDirectories(uioDir, "uio*").Select(Path.GetFileName).Order(StringComparer.Ordinal).FirstOrDefault();
    }

    internal static string Printable(string s)
    {
        var chars = s.Take(40).Select(c => char.IsControl(c) ? '?' : c).ToArray();
        return new string(chars) + (s.Length > 40 ? "..." : "");
    }
}
