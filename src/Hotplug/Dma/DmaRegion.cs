namespace Hotplug.Dma;

/// <summary>
/// One chunk of DMA memory as the device sees it: <see cref="Length"/> bytes at <see cref="VirtualAddress"/> in this
/// process, at <see cref="Iova"/> on the device. A re-attached device must see it at the same <see cref="Iova"/>.
/// </summary>
/// <param name="VirtualAddress">Start of the chunk in this process.</param>
/// <param name="Length">Its length in bytes (a multiple of <paramref name="PageSize"/>).</param>
/// <param name="Iova">The device address of its first byte.</param>
/// <param name="PageSize">The page size backing it: 2 MiB (hugepages) or 4 KiB.</param>
public readonly record struct DmaRegion(nint VirtualAddress, ulong Length, ulong Iova, ulong PageSize);
