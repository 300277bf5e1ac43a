using Hotplug.Pci;

namespace Hotplug.Benchmarks;

/// <summary>A driver that takes the simulated 1234:11e8 devices and does nothing else.</summary>
public sealed class BenchDriver : PciDriver
{
    public const ushort Vendor = 0x1234;
    public const ushort DeviceId = 0x11e8;

    public override string Name => "bench";
    public override IReadOnlyList<PciId> Ids { get; } = [new PciId(Vendor, DeviceId)];
    public override bool Probe(PciDevice device) => true;
}

/// <summary>Distinct PCI addresses for iterations that each need a fresh device.</summary>
public sealed class AddressSequence
{
    private int _next;

    public string Next()
    {
        int k = _next++ % (250 * 256);
        return $"0000:{1 + k / 256:x2}:{k / 8 % 32:x2}.{k % 8}";
    }
}
