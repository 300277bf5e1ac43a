using System.Globalization;
using Hotplug.Pci;

namespace Hotplug.Testing;

/// <summary>
/// A fake sysfs PCI tree and device-node directory in a temporary folder, laid out like the real ones
/// (<c>sys/bus/pci/devices/ADDR</c> symlinks to <c>sys/devices/pci0000:00/ADDR</c>). Point a
/// <see cref="PciBus"/> at it with <see cref="CreateOptions"/>. Dispose removes it.
/// </summary>
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

    /// <summary>Bus options that read this tree.</summary>
    public PciBusOptions CreateOptions(BarFill fill = BarFill.AllOnes) => new() { SysfsRoot = SysfsRoot, DevRoot = DevRoot, RemapFill = fill };

    /// <summary>The devices added and not yet removed.</summary>
    public IReadOnlyList<SimulatedPciDevice> Devices => _devices;

    /// <summary>
    /// Adds a function with memfd-backed BARs of the given sizes (0 = unused BAR), bound to
    /// <paramref name="kernelDriver"/> (null for none). uio drivers get a <c>uio/uioN</c> entry and a node in <see cref="DevRoot"/>.
    /// </summary>
    public SimulatedPciDevice AddDevice(string address, ushort vendorId, ushort deviceId, IReadOnlyList<ulong> barSizes,
        string? kernelDriver = "uio_pci_generic", uint classCode = 0xFF0000, int numaNode = 0)
    {
        var a = PciAddress.Parse(address);
        int uio = kernelDriver is "uio_pci_generic" or "igb_uio" ? NextUio() : -1;
        var d = new SimulatedPciDevice(this, a, vendorId, deviceId, classCode, numaNode, barSizes, kernelDriver, uio);
        _devices.Add(d);
        return d;
    }

    internal void Forget(SimulatedPciDevice d) => _devices.Remove(d);

    internal int NextUio()
    {
        for (int i = 0; ; i++)
        {
            if (!File.Exists(Path.Combine(DevRoot, "uio" + i.ToString(CultureInfo.InvariantCulture))))
                return i;
        }
    }

    /// <summary>Closes every device's memory and deletes the tree.</summary>
    public void Dispose()
    {
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
