using System.Globalization;
using Hotplug.Testing;

namespace Hotplug.Benchmarks;

/// <summary>
/// The scan benchmarks' tree: N simulated functions without BAR memory (<see cref="SimulatedPciBus"/> with
/// <c>barMemory: false</c>), two BARs each, a kernel driver for most (uio ones get their <c>uio/uioN</c>
/// entry), an <c>iommu_group</c> link, SR-IOV attributes on some. The same tree is read by our scanner and by
/// the C scanner.
/// </summary>
public static class SysfsTree
{
    private static readonly string[] Drivers = ["nvme", "vfio-pci", "uio_pci_generic", "igb_uio", "virtio-pci", "ixgbe"];

    /// <summary>The devices directory (…/sys/bus/pci/devices) of a tree of <paramref name="count"/> functions under <paramref name="parent"/>; generated once.</summary>
    public static string Ensure(string parent, int count)
    {
        string root = Path.Combine(parent, $"sysfs-{count}");
        string stamp = Path.Combine(root, "complete");
        if (File.Exists(stamp))
            return Path.Combine(root, "sys", "bus", "pci", "devices");
        if (Directory.Exists(root))
            Directory.Delete(root, recursive: true);
        using var sim = SimulatedPciBus.Create(root);
        sim.DeleteOnDispose = false; // kept for the next runs
        for (int k = 0; k < count; k++)
        {
            string a = $"0000:{k / 256 + 1:x2}:{k / 8 % 32:x2}.{k % 8}";
            var d = sim.AddDevice(a, k % 3 == 0 ? (ushort)0x8086 : (ushort)0x1af4, (ushort)(0x1000 + k % 64), [0x10000, 0, 0x10000],
                kernelDriver: k % 7 != 0 ? Drivers[k % Drivers.Length] : null, classCode: k % 2 == 0 ? 0x020000u : 0x010802u,
                numaNode: k % 2, barMemory: false);
            d.LinkIommuGroup(k);
            if (k % 16 == 0)
            {
                d.WriteAttribute("sriov_numvfs", "0");
                d.WriteAttribute("sriov_totalvfs", "8");
            }
        }
        File.WriteAllText(stamp, count.ToString(CultureInfo.InvariantCulture));
        return sim.SysfsRoot;
    }
}
