namespace Hotplug.Pci;

/// <summary>What a scan read about one PCI function from sysfs (never from its <c>uevent</c> file).</summary>
public sealed record PciDeviceInfo
{
    /// <summary>The function's address.</summary>
    public required PciAddress Address { get; init; }
    /// <summary>The sysfs directory the information came from.</summary>
    public required string SysfsPath { get; init; }
    /// <summary>Vendor id.</summary>
    public required ushort VendorId { get; init; }
    /// <summary>Device id.</summary>
    public required ushort DeviceId { get; init; }
    /// <summary>Subsystem vendor id, or null when the file is absent.</summary>
    public ushort? SubsystemVendorId { get; init; }
    /// <summary>Subsystem device id, or null when the file is absent.</summary>
    public ushort? SubsystemDeviceId { get; init; }
    /// <summary>24-bit class code (class, subclass, prog-if), or null when the file is absent.</summary>
    public uint? ClassCode { get; init; }
    /// <summary>Revision id, or null when the file is absent (kernels before 4.13 have none).</summary>
    public byte? Revision { get; init; }
    /// <summary>NUMA node, -1 when unknown or absent.</summary>
    public int NumaNode { get; init; } = -1;
    /// <summary>Every line of the <c>resource</c> file: BAR0-5, then ROM and SR-IOV windows.</summary>
    public IReadOnlyList<BarInfo> Resources { get; init; } = [];
    /// <summary>Name of the bound kernel driver, or null when none.</summary>
    public string? KernelDriverName { get; init; }
    /// <summary>The bound kernel driver as Hotplug classifies it.</summary>
    public PciKernelDriver KernelDriver { get; init; }
    /// <summary>IOMMU group number, or null.</summary>
    public int? IommuGroup { get; init; }
    /// <summary>The <c>driver_override</c> content, or null when unset.</summary>
    public string? DriverOverride { get; init; }
    /// <summary>Enabled SR-IOV virtual functions (<c>sriov_numvfs</c>, or igb_uio's <c>max_vfs</c>), or null.</summary>
    public int? NumVfs { get; init; }
    /// <summary>Supported SR-IOV virtual functions (<c>sriov_totalvfs</c>), or null.</summary>
    public int? TotalVfs { get; init; }
    /// <summary>The uio node name (<c>uio0</c>) when bound to a uio driver that exposes one.</summary>
    public string? UioName { get; init; }

    /// <summary>The six standard BARs (absent ones have length 0).</summary>
    public IEnumerable<BarInfo> Bars => Resources.Where(r => r.Index < 6);

    /// <summary>True when ids, class and revision are the same (the same kind of function).</summary>
    public bool SameIdentity(PciDeviceInfo other) =>
        VendorId == other.VendorId && DeviceId == other.DeviceId && SubsystemVendorId == other.SubsystemVendorId
        && SubsystemDeviceId == other.SubsystemDeviceId && ClassCode == other.ClassCode && Revision == other.Revision;
}
