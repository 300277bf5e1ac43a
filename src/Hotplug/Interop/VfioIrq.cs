using System.Runtime.InteropServices;

namespace Hotplug.Interop;

/// <summary>
/// The interrupt parts of <c>linux/vfio.h</c> (beyond the request IRQ in <see cref="Vfio"/>), with their C names:
/// the PCI IRQ indexes, <c>vfio_irq_info</c> flags, <c>vfio_irq_set</c> flags and the variable-size
/// <c>struct vfio_irq_set</c> (a 20-byte header followed by <c>__u8 data[]</c>).
/// </summary>
internal static class VfioIrq
{
    // enum { VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_ERR_IRQ_INDEX, VFIO_PCI_REQ_IRQ_INDEX }
    public const uint VFIO_PCI_INTX_IRQ_INDEX = 0;
    public const uint VFIO_PCI_MSI_IRQ_INDEX = 1;
    public const uint VFIO_PCI_MSIX_IRQ_INDEX = 2;
    public const uint VFIO_PCI_ERR_IRQ_INDEX = 3;

    public const uint VFIO_IRQ_INFO_EVENTFD = 1 << 0;
    public const uint VFIO_IRQ_INFO_MASKABLE = 1 << 1;
    public const uint VFIO_IRQ_INFO_AUTOMASKED = 1 << 2;
    public const uint VFIO_IRQ_INFO_NORESIZE = 1 << 3;

    public const uint VFIO_IRQ_SET_DATA_NONE = 1 << 0;
    public const uint VFIO_IRQ_SET_DATA_BOOL = 1 << 1;
    public const uint VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2;
    public const uint VFIO_IRQ_SET_ACTION_MASK = 1 << 3;
    public const uint VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4;
    public const uint VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5;

    /// <summary>The most eventfds one <c>vfio_irq_set</c> carries here (PCI allows 2048 MSI-X vectors).</summary>
    public const int MaxVectors = 2048;

    /// <summary>The fixed header of <c>struct vfio_irq_set</c>; <c>data[]</c> follows at <c>sizeof</c> (20).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct vfio_irq_set
    {
        public uint argsz;
        public uint flags;
        public uint index;
        public uint start;
        public uint count;
    }

    /// <summary>Bytes of a <c>vfio_irq_set</c> carrying <paramref name="eventFds"/> eventfds (<c>argsz</c>).</summary>
    public static int IrqSetSize(int eventFds) => Marshal.SizeOf<vfio_irq_set>() + eventFds * sizeof(int);

    /// <summary>
    /// Writes a <c>vfio_irq_set</c> into <paramref name="buffer"/> (host byte order) and returns its size
    /// (<c>argsz</c>). With <paramref name="eventFds"/> empty, <paramref name="count"/> is the count field
    /// (DATA_NONE: 1 to unmask INTx, 0 to disable every vector); otherwise the count is the number of eventfds,
    /// which follow the header as <c>__s32</c>.
    /// </summary>
    public static int WriteIrqSet(Span<byte> buffer, uint flags, uint index, uint start, uint count, ReadOnlySpan<int> eventFds)
    {
        int size = IrqSetSize(eventFds.Length);
        if (buffer.Length < size)
            throw new ArgumentException($"vfio_irq_set needs {size} bytes; the buffer has {buffer.Length}.", nameof(buffer));
        if (!eventFds.IsEmpty)
            count = (uint)eventFds.Length;
        var header = new vfio_irq_set { argsz = (uint)size, flags = flags, index = index, start = start, count = count };
        MemoryMarshal.Write(buffer, in header);
        var data = buffer[Marshal.SizeOf<vfio_irq_set>()..];
        for (int i = 0; i < eventFds.Length; i++)
            MemoryMarshal.Write(data[(i * sizeof(int))..], in eventFds[i]);
        return size;
    }
}
