using Hotplug.Pci;

namespace Hotplug.WorkerSample;

/// <summary>A driver for QEMU's edu device (1234:11e8): takes it when its identification register answers.</summary>
public sealed class EduDriver(Timeline timeline) : PciDriver
{
    /// <summary>QEMU's vendor id.</summary>
    public const ushort Vendor = 0x1234;

    /// <summary>edu's device id.</summary>
    public const ushort DeviceId = 0x11e8;

    /// <summary>What edu's register 0 reads (version 1.0).</summary>
    public const uint IdentificationValue = 0x010000ed;

    /// <inheritdoc />
    public override string Name => "edu";

    /// <inheritdoc />
    public override IReadOnlyList<PciId> Ids { get; } = [new PciId(Vendor, DeviceId)];

    /// <inheritdoc />
    public override bool Probe(PciDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        bool mine = device.Bar(0).Read32(0) == IdentificationValue;
        if (mine)
            timeline.Add($"driver: attached {device.Name}");
        return mine;
    }

    /// <inheritdoc />
    public override void Remove(PciDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        timeline.Add($"driver: detached {device.Name}");
    }
}
