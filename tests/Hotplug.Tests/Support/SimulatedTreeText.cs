using Hotplug.Pci;
using Hotplug.Testing;

namespace Hotplug.Tests.Support;

/// <summary>
/// Parser-test shorthand on <see cref="SimulatedPciBus"/>: a function whose attributes are given as the text
/// sysfs would hold (null leaves a file out), on top of <see cref="SimulatedPciBus.AddDevice"/> /
/// <see cref="SimulatedPciBus.AddEntry"/> and <see cref="SimulatedPciDevice.WriteAttribute"/>.
/// </summary>
internal static class SimulatedTreeText
{
    /// <summary>Adds a function (an Intel NIC by default, no BAR memory) with these attribute texts; a non-canonical name is added as is.</summary>
    public static SimulatedPciBus AddText(this SimulatedPciBus sim, string address, string? vendor = "0x8086", string? device = "0x10d3",
        string? subsystemVendor = "0x8086", string? subsystemDevice = "0xa01f", string? classCode = "0x020000",
        string? revision = "0x00", string? numaNode = "0", string? resource = null, string? driver = null)
    {
        bool canonical = PciAddress.TryParse(address, out var a) && a.ToString() == address;
        var d = canonical
            ? sim.AddDevice(address, 0x8086, 0x10d3, [], kernelDriver: driver, classCode: 0x020000, barMemory: false)
            : sim.AddEntry(address);
        d.WriteAttribute("vendor", vendor);
        d.WriteAttribute("device", device);
        d.WriteAttribute("subsystem_vendor", subsystemVendor);
        d.WriteAttribute("subsystem_device", subsystemDevice);
        d.WriteAttribute("class", classCode);
        d.WriteAttribute("revision", revision);
        d.WriteAttribute("numa_node", numaNode);
        d.WriteAttribute("resource", resource ?? SimulatedPciBus.ResourceFile("0xfebc0000 0xfebdffff 0x40200"));
        // A scan must ignore uevent: this one lies about the ids.
        d.WriteAttribute("uevent", "DRIVER=liar\nPCI_ID=DEAD:BEEF\nPCI_SLOT_NAME=" + address);
        return sim;
    }

    /// <summary>The entry named <paramref name="name"/>.</summary>
    public static SimulatedPciDevice Entry(this SimulatedPciBus sim, string name) => sim.Devices.Single(d => d.Name == name);
}
