using Hotplug.Pci;

namespace Hotplug.Cli;

/// <summary>A driver for QEMU's edu device (1234:11e8): reg 0x00 is the id 0x010000ed, reg 0x04 inverts what is written.</summary>
internal sealed class EduDriver : PciDriver
{
    public const uint IdRegister = 0x00, InvertRegister = 0x04, ExpectedId = 0x010000ed;

    public override string Name => "edu";

    public override IReadOnlyList<PciId> Ids { get; } = [new PciId(0x1234, 0x11e8)];

    public override bool Probe(PciDevice device) => device.Bar(0).Read32(IdRegister) == ExpectedId;
}
