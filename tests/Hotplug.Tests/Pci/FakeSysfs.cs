namespace Hotplug.Tests.Pci;

/// <summary>
/// A fake sysfs PCI tree in a temporary folder, laid out like the real one: <c>sys/bus/pci/devices/ADDR</c>
/// is a relative symlink to <c>sys/devices/pci0000:00/ADDR</c>, which holds plain files. Tests write every
/// file themselves, so odd cases (missing, garbage, a directory where a file belongs) are easy to build.
/// Nothing here ever touches the host's real /sys.
/// </summary>
internal sealed class FakeSysfs : IDisposable
{
    public FakeSysfs()
    {
        Root = Directory.CreateTempSubdirectory("hotplug-fakesysfs-").FullName;
        Directory.CreateDirectory(DevicesRoot);
        Directory.CreateDirectory(RealRoot);
    }

    public string Root { get; }

    /// <summary>The fake <c>/sys/bus/pci/devices</c>.</summary>
    public string DevicesRoot => Path.Combine(Root, "sys", "bus", "pci", "devices");

    private string RealRoot => Path.Combine(Root, "sys", "devices", "pci0000:00");

    /// <summary>The real directory of a function (what the symlink points to).</summary>
    public string Dir(string address) => Path.Combine(RealRoot, address);

    /// <summary>The path of one of the function's files, as the scanner sees it (through the symlink).</summary>
    public string PathOf(string address, string file) => Path.Combine(DevicesRoot, address, file);

    /// <summary>Adds a function with the usual files; pass null to leave a file out.</summary>
    public FakeSysfs Add(string address, string? vendor = "0x8086", string? device = "0x10d3",
        string? subsystemVendor = "0x8086", string? subsystemDevice = "0xa01f", string? classCode = "0x020000",
        string? revision = "0x00", string? numaNode = "0", string? resource = null, string? driver = null)
    {
        string dir = Dir(address);
        Directory.CreateDirectory(dir);
        Write(address, "vendor", vendor);
        Write(address, "device", device);
        Write(address, "subsystem_vendor", subsystemVendor);
        Write(address, "subsystem_device", subsystemDevice);
        Write(address, "class", classCode);
        Write(address, "revision", revision);
        Write(address, "numa_node", numaNode);
        Write(address, "resource", resource ?? Resource("0xfebc0000 0xfebdffff 0x40200"));
        // The files a real scan must ignore: a uevent that lies about the ids.
        Write(address, "uevent", "DRIVER=liar\nPCI_ID=DEAD:BEEF\nPCI_SLOT_NAME=" + address);
        if (driver is not null)
            LinkDriver(address, driver);
        File.CreateSymbolicLink(Path.Combine(DevicesRoot, address), Path.Combine("..", "..", "..", "devices", "pci0000:00", address));
        return this;
    }

    /// <summary>Writes (or, with null, deletes) a file of the function, newline-terminated like sysfs.</summary>
    public void Write(string address, string file, string? content)
    {
        string path = Path.Combine(Dir(address), file);
        if (content is null)
        {
            File.Delete(path);
            return;
        }
        File.WriteAllText(path, content.EndsWith('\n') ? content : content + "\n");
    }

    /// <summary>Binds a kernel driver: <c>driver</c> → <c>../../../bus/pci/drivers/NAME</c> (dangling in the fake tree, as the scanner only reads the link).</summary>
    public void LinkDriver(string address, string? name)
    {
        string link = Path.Combine(Dir(address), "driver");
        if (new FileInfo(link).LinkTarget is not null)
            File.Delete(link);
        if (name is not null)
            File.CreateSymbolicLink(link, $"../../../bus/pci/drivers/{name}");
    }

    /// <summary>Sets <c>iommu_group</c> → <c>../../../kernel/iommu_groups/N</c>.</summary>
    public void LinkIommuGroup(string address, int group) =>
        File.CreateSymbolicLink(Path.Combine(Dir(address), "iommu_group"), $"../../../kernel/iommu_groups/{group}");

    /// <summary>Takes the function out (link and directory), as a hot removal does.</summary>
    public void Remove(string address)
    {
        File.Delete(Path.Combine(DevicesRoot, address));
        Directory.Delete(Dir(address), recursive: true);
    }

    /// <summary>A <c>resource</c> file: the given lines, padded with empty lines to BAR5 plus a ROM line.</summary>
    public static string Resource(params string[] bars)
    {
        var lines = bars.Select(Full).ToList();
        while (lines.Count < 7)
            lines.Add(Empty);
        return string.Join('\n', lines) + "\n";
    }

    public const string Empty = "0x0000000000000000 0x0000000000000000 0x0000000000000000";

    private static string Full(string line)
    {
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return f.Length == 3
            ? string.Join(' ', f.Select(x => "0x" + Convert.ToUInt64(x, 16).ToString("x16")))
            : line;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
