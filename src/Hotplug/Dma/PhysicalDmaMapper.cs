namespace Hotplug.Dma;

/// <summary>
/// Device addresses for a device without an IOMMU of its own (uio, sysfs resource attachments): the device is told
/// physical addresses, read from <c>/proc/self/pagemap</c> (root only). It refuses loudly wherever the device would
/// silently miss: an IOMMU that translates the device's DMA, memory that is not physically contiguous, an address
/// above the DMA mask.
/// </summary>
/// <remarks>
/// Only hugepages stay put (ordinary pages move under compaction even when locked), so only hugepage-shaped ranges
/// (2 MiB aligned, a multiple of 2 MiB) or a single 4 KiB page are accepted.
/// </remarks>
internal sealed class PhysicalDmaMapper : IDmaMapper
{
    private const ulong SmallPageBytes = 4096;
    private readonly ulong _dmaMask;

    /// <summary>Checks that the device's DMA is not translated by an IOMMU.</summary>
    /// <param name="deviceSysfsPath">The device's sysfs directory (<c>/sys/bus/pci/devices/0000:01:00.0</c>).</param>
    /// <param name="dmaMask">The highest physical address the device can reach.</param>
    /// <exception cref="DmaException">The IOMMU translates this device's DMA (its group's <c>type</c> is <c>DMA</c> or <c>DMA-FQ</c>).</exception>
    public PhysicalDmaMapper(string deviceSysfsPath, ulong dmaMask)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceSysfsPath);
        _dmaMask = dmaMask;
        Device = Path.GetFileName(Path.TrimEndingDirectorySeparator(deviceSysfsPath));
        string typeFile = Path.Combine(deviceSysfsPath, "iommu_group", "type");
        string? type = File.Exists(typeFile) ? File.ReadAllText(typeFile).Trim() : null; // no group: no IOMMU in the way
        IommuType = type;
        if (type is "DMA" or "DMA-FQ")
            throw new DmaException($"{Device}: the IOMMU translates this device's DMA (iommu_group/type is {type}): " +
                "physical addresses would fault silently; boot with iommu=pt or use vfio-pci");
    }

    /// <summary>The device's name (its sysfs directory's name).</summary>
    public string Device { get; }

    /// <summary>What <c>iommu_group/type</c> read (<c>identity</c>, …), or null when the device has no IOMMU group.</summary>
    public string? IommuType { get; }

    /// <inheritdoc/>
    public bool AcceptsSmallPages => false;

    /// <inheritdoc/>
    public string Describe => $"physical addresses for {Device} (DMA mask 0x{_dmaMask:x})";

    /// <inheritdoc/>
    public ulong Map(nint virtualAddress, ulong length)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        bool onePage = (ulong)virtualAddress % SmallPageBytes + length <= SmallPageBytes;
        bool hugeShaped = (ulong)virtualAddress % DmaOptions.HugePageBytes == 0 && length % DmaOptions.HugePageBytes == 0;
        if (!onePage && !hugeShaped)
            throw new DmaException($"{Device}: 0x{length:x} bytes at 0x{(ulong)virtualAddress:x} are neither one 4 KiB page nor hugepages: " +
                "uio DMA needs physically contiguous memory that stays put; reserve hugepages (hugepages=N on the kernel command line " +
                "or echo N > /proc/sys/vm/nr_hugepages), or use vfio-pci");
        ulong pa = Pagemap.PhysicalRange(virtualAddress, length);
        ulong end = pa + (length - 1);
        if (end < pa || end > _dmaMask)
            throw new DmaException($"{Device}: DMA memory at physical 0x{pa:x}-0x{end:x} is above the device's DMA mask 0x{_dmaMask:x}: " +
                "the device would reach other memory; reserve hugepages at boot (they are taken low) or use vfio-pci");
        return pa;
    }

    /// <inheritdoc/>
    public void Unmap(nint virtualAddress, ulong length, ulong iova)
    {
        // Nothing is mapped: the device was only told the addresses.
    }
}
