using Hotplug.Interop;
using Hotplug.Interrupts;

namespace Hotplug.Pci;

/// <summary>
/// Interrupts through vfio-pci: <c>VFIO_DEVICE_GET_IRQ_INFO</c> to check the device has the vectors,
/// <c>VFIO_DEVICE_SET_IRQS</c> (DATA_EVENTFD | ACTION_TRIGGER) to attach one eventfd per vector, DATA_NONE |
/// ACTION_UNMASK to re-arm auto-masked INTx, DATA_NONE | ACTION_TRIGGER with count 0 to disarm. Every call leases
/// the device fd; once the fd is closed (the kernel has torn the triggers down itself) <see cref="Disable"/> is a no-op.
/// </summary>
internal sealed unsafe class VfioInterrupts(SafeFdHandle device) : InterruptBackend
{
    private uint _index = uint.MaxValue; // none armed

    /// <summary>The vfio IRQ index of <paramref name="kind"/>.</summary>
    public static uint IrqIndex(InterruptKind kind) => kind switch
    {
        InterruptKind.Intx => VfioIrq.VFIO_PCI_INTX_IRQ_INDEX,
        InterruptKind.Msi => VfioIrq.VFIO_PCI_MSI_IRQ_INDEX,
        InterruptKind.MsiX => VfioIrq.VFIO_PCI_MSIX_IRQ_INDEX,
        _ => throw new ArgumentException($"vfio has no {kind} interrupts.", nameof(kind)),
    };

    /// <summary>The device's <c>vfio_irq_info</c> for <paramref name="kind"/>.</summary>
    public Vfio.vfio_irq_info Info(InterruptKind kind)
    {
        using var fd = device.Lease();
        Vfio.vfio_irq_info info = new() { argsz = (uint)sizeof(Vfio.vfio_irq_info), index = IrqIndex(kind) };
        Sys.CheckIo(Tmds.Linux.LibC.ioctl(fd.Fd, Vfio.VFIO_DEVICE_GET_IRQ_INFO, &info), $"VFIO_DEVICE_GET_IRQ_INFO ({kind})");
        return info;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<InterruptSource> Enable(InterruptKind kind, int count)
    {
        uint index = IrqIndex(kind);
        if (count < 1 || count > VfioIrq.MaxVectors)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"1 to {VfioIrq.MaxVectors} vectors.");
        var info = Info(kind);
        if (count > info.count)
            throw new ArgumentException($"the device has {info.count} {Name(kind)} vectors; asked for {count}", nameof(count));
        if ((info.flags & VfioIrq.VFIO_IRQ_INFO_EVENTFD) == 0)
            throw new ArgumentException($"the device's {Name(kind)} interrupts cannot signal an eventfd (flags 0x{info.flags:x})", nameof(kind));
        var sources = new List<InterruptSource>(count);
        try
        {
            Span<int> fds = count <= 64 ? stackalloc int[count] : new int[count];
            for (int i = 0; i < count; i++)
            {
                var s = EventFdSource.Create();
                sources.Add(s);
                fds[i] = s.Handle.Fd;
            }
            Span<byte> buffer = stackalloc byte[VfioIrq.IrqSetSize(count)];
            VfioIrq.WriteIrqSet(buffer, VfioIrq.VFIO_IRQ_SET_DATA_EVENTFD | VfioIrq.VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, 0, fds);
            SetIrqs(buffer, $"VFIO_DEVICE_SET_IRQS ({count} {Name(kind)} eventfds)");
            _index = index;
            return sources;
        }
        catch
        {
            foreach (var s in sources)
                s.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public override void Unmask(int index)
    {
        if (_index != VfioIrq.VFIO_PCI_INTX_IRQ_INDEX)
            return; // MSI and MSI-X are never masked by the kernel
        Span<byte> buffer = stackalloc byte[VfioIrq.IrqSetSize(0)];
        VfioIrq.WriteIrqSet(buffer, VfioIrq.VFIO_IRQ_SET_DATA_NONE | VfioIrq.VFIO_IRQ_SET_ACTION_UNMASK,
            VfioIrq.VFIO_PCI_INTX_IRQ_INDEX, (uint)index, 1, default);
        SetIrqs(buffer, "VFIO_DEVICE_SET_IRQS (unmask INTx)");
    }

    /// <inheritdoc/>
    public override void Disable()
    {
        uint index = _index;
        if (index == uint.MaxValue)
            return;
        _index = uint.MaxValue;
        Span<byte> buffer = stackalloc byte[VfioIrq.IrqSetSize(0)];
        VfioIrq.WriteIrqSet(buffer, VfioIrq.VFIO_IRQ_SET_DATA_NONE | VfioIrq.VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, 0, default);
        try
        {
            SetIrqs(buffer, "VFIO_DEVICE_SET_IRQS (disable)");
        }
        catch (ObjectDisposedException)
        {
            // the device fd is closed: closing it disarmed everything
        }
    }

    private static string Name(InterruptKind kind) => kind switch
    {
        InterruptKind.MsiX => "MSI-X",
        InterruptKind.Msi => "MSI",
        _ => "INTx",
    };

    private void SetIrqs(ReadOnlySpan<byte> set, string what)
    {
        using var fd = device.Lease();
        fixed (byte* p = set)
            Sys.CheckIo(Tmds.Linux.LibC.ioctl(fd.Fd, Vfio.VFIO_DEVICE_SET_IRQS, p), what);
    }
}
