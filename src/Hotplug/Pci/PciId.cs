namespace Hotplug.Pci;

/// <summary>
/// One entry of a driver's ID table. <see cref="Any"/> in an id field and <see cref="AnyClass"/> in
/// <see cref="ClassCode"/> match everything (DPDK's RTE_PCI_ANY_ID / RTE_CLASS_ANY_ID).
/// </summary>
public readonly record struct PciId(ushort VendorId, ushort DeviceId, ushort SubsystemVendorId = PciId.Any,
    ushort SubsystemDeviceId = PciId.Any, uint ClassCode = PciId.AnyClass)
{
    /// <summary>Wildcard for the 16-bit ids.</summary>
    public const ushort Any = 0xFFFF;

    /// <summary>Wildcard for the 24-bit class code.</summary>
    public const uint AnyClass = 0xFFFFFF;

    /// <summary>True if the device's ids match this entry. A subsystem id or class it names never matches a device whose sysfs file for it is absent.</summary>
    public bool Matches(PciDeviceInfo info) =>
        (VendorId == Any || VendorId == info.VendorId)
        && (DeviceId == Any || DeviceId == info.DeviceId)
        && (SubsystemVendorId == Any || SubsystemVendorId == info.SubsystemVendorId)
        && (SubsystemDeviceId == Any || SubsystemDeviceId == info.SubsystemDeviceId)
        && (ClassCode == AnyClass || ClassCode == info.ClassCode);

    /// <inheritdoc />
    public override string ToString() => $"{VendorId:x4}:{DeviceId:x4}";
}
