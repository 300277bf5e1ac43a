using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>A driver for QEMU's edu device (1234:11e8): BAR0 register 0x00 reads 0x010000ed, 0x04 inverts.</summary>
internal sealed class EduDriver : PciDriver
{
    public const uint Identification = 0x010000ed;
    private static readonly PciId[] EduIds = [new(0x1234, 0x11e8)];
    private volatile PciDevice? _device;

    public override IReadOnlyList<PciId> Ids => EduIds;

    public override string Name => "edu";

    /// <summary>edu's DMA engine truncates addresses to 28 bits (its dma_mask property).</summary>
    public override ulong DmaMask => (1UL << 28) - 1;

    public PciDevice? Device => _device;

    public override bool Probe(PciDevice device)
    {
        uint id = device.Bar(0).Read32(0);
        Report.Emit("probe", w =>
        {
            w.WriteString("dev", device.Name);
            w.WriteString("id", $"0x{id:x8}");
        });
        if (id != Identification) return false;
        _device = device;
        return true;
    }

    public override void Remove(PciDevice device)
    {
        _device = null;
        Report.Emit("driver-remove", w => w.WriteString("dev", device.Name));
    }
}
