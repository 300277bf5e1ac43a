using Hotplug.Pci;

namespace Hotplug.Tests.Support;

/// <summary>A PCI driver for tests: configurable ids and probe outcome, counts its calls.</summary>
internal sealed class TestDriver(string name = "test-driver", Func<PciDevice, bool>? probe = null, params PciId[] ids) : PciDriver
{
    public override string Name { get; } = name;
    public override IReadOnlyList<PciId> Ids { get; } = ids.Length > 0 ? ids : [new PciId(0x1234, 0x11e8)];
    public int ProbeCalls;
    public int RemoveCalls;
    public bool NeedsMappingValue = true;
    public override bool NeedsMapping => NeedsMappingValue;

    public override bool Probe(PciDevice device)
    {
        ProbeCalls++;
        return probe?.Invoke(device) ?? true;
    }

    public override void Remove(PciDevice device) => RemoveCalls++;
}
