using System.Globalization;
using System.Text;

namespace Hotplug.Benchmarks;

/// <summary>
/// Generates a fake sysfs PCI tree of N functions laid out like the real one: <c>sys/devices/pci0000:00/ADDR/</c>
/// with the attribute files a scan reads (13-line <c>resource</c> like a modern kernel's, a <c>driver</c> link for
/// most, an <c>iommu_group</c> link, uio directories for a few) and <c>sys/bus/pci/devices/ADDR</c> symlinks.
/// The same tree is read by our scanner and by the C scanner.
/// </summary>
public static class SysfsTree
{
    private static readonly string[] Drivers = ["nvme", "vfio-pci", "uio_pci_generic", "igb_uio", "virtio-pci", "ixgbe"];

    /// <summary>The devices directory (…/sys/bus/pci/devices) of a tree of <paramref name="count"/> functions under <paramref name="parent"/>; generated once.</summary>
    public static string Ensure(string parent, int count)
    {
        string root = Path.Combine(parent, $"sysfs-{count}");
        string devices = Path.Combine(root, "sys", "bus", "pci", "devices");
        string stamp = Path.Combine(root, "complete");
        if (File.Exists(stamp))
            return devices;
        if (Directory.Exists(root))
            Directory.Delete(root, recursive: true);
        string real = Path.Combine(root, "sys", "devices", "pci0000:00");
        Directory.CreateDirectory(devices);
        Directory.CreateDirectory(real);
        for (int k = 0; k < count; k++)
        {
            string a = $"0000:{k / 256 + 1:x2}:{k / 8 % 32:x2}.{k % 8}";
            string dir = Path.Combine(real, a);
            Directory.CreateDirectory(dir);
            void W(string f, string v) => File.WriteAllText(Path.Combine(dir, f), v + "\n");
            W("vendor", k % 3 == 0 ? "0x8086" : "0x1af4");
            W("device", $"0x{0x1000 + k % 64:x4}");
            W("subsystem_vendor", "0x1af4");
            W("subsystem_device", "0x1100");
            W("class", k % 2 == 0 ? "0x020000" : "0x010802");
            W("revision", "0x01");
            W("numa_node", (k % 2).ToString(CultureInfo.InvariantCulture));
            W("driver_override", "(null)");
            var res = new StringBuilder();
            ulong phys = 0xc0000000UL + (ulong)k * 0x100000UL;
            for (int i = 0; i < 13; i++)
            {
                if (i == 0 || i == 2)
                    res.Append(CultureInfo.InvariantCulture, $"0x{phys + (ulong)i * 0x10000:x16} 0x{phys + (ulong)i * 0x10000 + 0xffff:x16} 0x0000000000140204\n");
                else
                    res.Append("0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
            }
            File.WriteAllText(Path.Combine(dir, "resource"), res.ToString());
            if (k % 7 != 0)
            {
                string drv = Drivers[k % Drivers.Length];
                File.CreateSymbolicLink(Path.Combine(dir, "driver"), $"../../../bus/pci/drivers/{drv}");
                if (drv is "uio_pci_generic" or "igb_uio")
                    Directory.CreateDirectory(Path.Combine(dir, "uio", "uio" + k.ToString(CultureInfo.InvariantCulture)));
            }
            File.CreateSymbolicLink(Path.Combine(dir, "iommu_group"), $"../../../kernel/iommu_groups/{k}");
            if (k % 16 == 0)
            {
                W("sriov_numvfs", "0");
                W("sriov_totalvfs", "8");
            }
            File.CreateSymbolicLink(Path.Combine(devices, a), Path.Combine("..", "..", "..", "devices", "pci0000:00", a));
        }
        File.WriteAllText(stamp, count.ToString(CultureInfo.InvariantCulture));
        return devices;
    }
}
