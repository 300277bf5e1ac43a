using Hotplug.Pci;

namespace Hotplug.Tests.Pci;

/// <summary>A driver for tests: counts its calls, records what it saw, and can decline or throw.</summary>
internal sealed class TestPciDriver(string name, params PciId[] ids) : PciDriver
{
    public override string Name => name;

    public override IReadOnlyList<PciId> Ids => ids.Length > 0 ? ids : [new PciId(PciId.Any, PciId.Any)];

    public bool Mapping { get; init; } = true;

    public override bool NeedsMapping => Mapping;

    /// <summary>What <see cref="Probe"/> does: true takes the device, false declines it.</summary>
    public Func<PciDevice, bool> OnProbe { get; set; } = _ => true;

    public List<string> Probed { get; } = [];

    public List<string> Removed { get; } = [];

    /// <summary>The number of BARs mapped when Probe was called, per call.</summary>
    public List<int> BarsSeenAtProbe { get; } = [];

    public override bool Probe(PciDevice device)
    {
        Probed.Add(device.Name);
        BarsSeenAtProbe.Add(device.Bars.Count);
        return OnProbe(device);
    }

    public override void Remove(PciDevice device) => Removed.Add(device.Name);
}
