using System.Globalization;
using Hotplug.Pci;

namespace Hotplug.Testing;

/// <summary>
/// A fake sysfs PCI tree and device-node directory in a temporary folder, laid out like the real ones
/// (<c>sys/bus/pci/devices/ADDR</c> symlinks to <c>sys/devices/pci0000:00/ADDR</c>). Point a
/// <see cref="PciBus"/> at it with <see cref="CreateOptions"/>. Dispose removes it.
/// </summary>
/// <remarks>
/// Besides well-formed devices it makes the trees a parser must survive: any attribute file of a device can
/// be rewritten with arbitrary text or deleted (<see cref="SimulatedPciDevice.WriteAttribute"/>), entries can
/// carry names the kernel never makes (<see cref="AddEntry"/>), and devices can be described without BAR
/// memory (<c>barMemory: false</c>), which makes trees of thousands of functions cheap (scan benchmarks).
/// </remarks>
public sealed class SimulatedPciBus : IDisposable
{
    private readonly List<SimulatedPciDevice> _devices = [];

    private SimulatedPciBus(string root)
    {
        Root = root;
        Directory.CreateDirectory(DevicesDirectory);
        Directory.CreateDirectory(SysfsRoot);
        Directory.CreateDirectory(DevRoot);
    }

    /// <summary>Creates an empty tree under <paramref name="directory"/>, or a new temporary folder.</summary>
    public static SimulatedPciBus Create(string? directory = null) =>
        new(directory ?? Directory.CreateTempSubdirectory("hotplug-sim-").FullName);

    /// <summary>The folder holding the tree.</summary>
    public string Root { get; }

    /// <summary>The fake <c>/sys/bus/pci/devices</c>.</summary>
    public string SysfsRoot => Path.Combine(Root, "sys", "bus", "pci", "devices");

    /// <summary>The fake <c>/dev</c> (uio nodes).</summary>
    public string DevRoot => Path.Combine(Root, "dev");

    internal string DevicesDirectory => Path.Combine(Root, "sys", "devices", "pci0000:00");

    /// <summary>Whether <see cref="Dispose"/> deletes the tree (true by default). A benchmark that builds a large tree once and reuses it across runs sets it to false.</summary>
    public bool DeleteOnDispose { get; set; } = true;

    /// <summary>A <c>resource</c> line of an unused BAR.</summary>
    public const string UnusedResourceLine = "0x0000000000000000 0x0000000000000000 0x0000000000000000";

    /// <summary>
    /// The text of a <c>resource</c> file: the given lines (<c>start end flags</c>; three hex numbers are
    /// widened to the kernel's 16 digits, anything else is kept as is), padded with unused lines to the 13 a
    /// kernel with SR-IOV support writes (6 BARs, the ROM, 6 VF BARs).
    /// </summary>
    public static string ResourceFile(params string[] lines)
    {
        var all = lines.Select(Widen).ToList();
        while (all.Count < 13)
            all.Add(UnusedResourceLine);
        return string.Join('\n', all) + "\n";

        static string Widen(string line)
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length != 3)
                return line;
            try
            {
                return string.Join(' ', f.Select(x => "0x" + Convert.ToUInt64(x, 16).ToString("x16", CultureInfo.InvariantCulture)));
            }
            catch (FormatException)
            {
                return line;
            }
        }
    }

    /// <summary>Bus options that read this tree.</summary>
    public PciBusOptions CreateOptions(BarFill fill = BarFill.AllOnes) => new() { SysfsRoot = SysfsRoot, DevRoot = DevRoot, RemapFill = fill };

    /// <summary>The devices added and not yet removed.</summary>
    public IReadOnlyList<SimulatedPciDevice> Devices => _devices;

    /// <summary>
    /// Adds a function with memfd-backed BARs of the given sizes (0 = unused BAR), bound to
    /// <paramref name="kernelDriver"/> (null for none). uio drivers get a <c>uio/uioN</c> entry and a node in <see cref="DevRoot"/>.
    /// With <paramref name="barMemory"/> false the BARs are only described in <c>resource</c> (no memfds, no
    /// <c>resourceN</c> files): a scan sees them, mapping them fails, and the register accessors throw.
    /// </summary>
    public SimulatedPciDevice AddDevice(string address, ushort vendorId, ushort deviceId, IReadOnlyList<ulong> barSizes,
        string? kernelDriver = "uio_pci_generic", uint classCode = 0xFF0000, int numaNode = 0, bool barMemory = true)
    {
        var a = PciAddress.Parse(address);
        int uio = kernelDriver is "uio_pci_generic" or "igb_uio" ? NextUio() : -1;
        var d = new SimulatedPciDevice(this, a, a.ToString(), vendorId, deviceId, classCode, numaNode, barSizes, kernelDriver, uio, barMemory);
        _devices.Add(d);
        return d;
    }

    /// <summary>
    /// Adds an entry named <paramref name="name"/> exactly as given, with the attribute files of a function
    /// without BAR memory and no kernel driver, reached through a link like a real one. For names the kernel
    /// never makes (<c>0000:0A:00.0</c>, <c>03:00.0</c>, ...), to test that a scanner reports them; its
    /// <see cref="SimulatedPciDevice.Address"/> is the parsed name, or the default address when it does not parse.
    /// </summary>
    public SimulatedPciDevice AddEntry(string name, ushort vendorId = 0x8086, ushort deviceId = 0x10d3)
    {
        PciAddress.TryParse(name, out var a);
        var d = new SimulatedPciDevice(this, a, name, vendorId, deviceId, 0x020000, 0, [], null, -1, barMemory: false);
        _devices.Add(d);
        return d;
    }

    /// <summary>The fake <c>/sys/bus/pci/drivers</c>: one directory per loaded driver.</summary>
    public string DriversRoot => Path.Combine(Root, "sys", "bus", "pci", "drivers");

    /// <summary>
    /// "Loads" kernel drivers: creates <c>sys/bus/pci/drivers/NAME</c> for each, so the <c>driver</c> links of
    /// functions bound to them resolve (writes to <c>driver/unbind</c> land in the tree) and tools that check
    /// whether a driver is loaded find it.
    /// </summary>
    public void LoadDrivers(params string[] names)
    {
        foreach (string n in names)
            Directory.CreateDirectory(Path.Combine(DriversRoot, n));
    }

    internal void Forget(SimulatedPciDevice d) => _devices.Remove(d);

    private int _uioHint;

    internal void UioFreed() => _uioHint = 0;

    internal int NextUio()
    {
        for (int i = _uioHint; ; i++)
        {
            if (!File.Exists(Path.Combine(DevRoot, "uio" + i.ToString(CultureInfo.InvariantCulture))))
            {
                _uioHint = i + 1;
                return i;
            }
        }
    }

    /// <summary>Closes every device's memory and deletes the tree.</summary>
    public void Dispose()
    {
        if (!DeleteOnDispose)
        {
            foreach (var d in _devices.ToList())
                d.CloseMemory();
            return;
        }
        foreach (var d in _devices.ToList())
            d.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
