using Hotplug.Dma;

namespace Hotplug.Pci;

/// <summary>
/// The bus's DMA allocators, which outlive the devices: one for every vfio device (IOVAs in the bus's container,
/// replayed into the next container after a removal) and one per address for uio devices (physical addresses).
/// </summary>
internal sealed class PciDmaAllocators(PciAttachContext context)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<PciAddress, DmaAllocator> _physical = [];
    private DmaAllocator? _vfio;

    public DmaAllocator For(PciDevice device, DmaOptions? options)
    {
        ArgumentNullException.ThrowIfNull(device);
        var attachment = device.Attachment ?? throw new InvalidOperationException($"{device.Name} is not attached: HotplugAdd it first.");
        ulong mask = Math.Min(device.Driver?.DmaMask ?? ulong.MaxValue, options?.DmaMask ?? ulong.MaxValue);
        var opts = new DmaOptions
        {
            ChunkBytes = options?.ChunkBytes ?? DmaOptions.HugePageBytes,
            AllowSmallPages = options?.AllowSmallPages ?? true,
            DmaMask = mask,
        };
        DmaAllocator allocator;
        lock (_lock)
        {
            if (attachment is not (VfioAttachment or UioAttachment))
                throw new DmaException($"{device.Name} is held through sysfs resource files only: DMA needs vfio-pci (IOMMU) or a uio driver with its /dev/uioN node (uio_pci_generic, igb_uio).");
            if (attachment is VfioAttachment)
            {
                context.Vfio.Dma.RestrictMask(mask);
                if (_vfio is null || _vfio.IsDisposed)
                    _vfio = new DmaAllocator(context.Vfio.Dma, opts, context.Logger);
                allocator = _vfio;
            }
            else
            {
                if (!_physical.TryGetValue(device.Address, out var existing) || existing.IsDisposed)
                    _physical[device.Address] = existing = new DmaAllocator(new PhysicalDmaMapper(device.Info.SysfsPath, mask), opts, context.Logger);
                allocator = existing;
            }
        }
        device.Config.EnableBusMastering();
        return allocator;
    }
}
