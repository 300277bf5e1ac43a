using System.Runtime.InteropServices;
using Hotplug.Interop;
using Hotplug.Interrupts;

namespace Hotplug.Tests.Interrupts;

/// <summary>The variable-size <c>struct vfio_irq_set</c> and the constants against the numbers of <c>linux/vfio.h</c>.</summary>
public class VfioIrqLayoutTests
{
    [Fact]
    public void The_constants_are_those_of_linux_vfio_h()
    {
        Assert.Equal(0u, VfioIrq.VFIO_PCI_INTX_IRQ_INDEX);
        Assert.Equal(1u, VfioIrq.VFIO_PCI_MSI_IRQ_INDEX);
        Assert.Equal(2u, VfioIrq.VFIO_PCI_MSIX_IRQ_INDEX);
        Assert.Equal(1u, VfioIrq.VFIO_IRQ_SET_DATA_NONE);
        Assert.Equal(2u, VfioIrq.VFIO_IRQ_SET_DATA_BOOL);
        Assert.Equal(4u, VfioIrq.VFIO_IRQ_SET_DATA_EVENTFD);
        Assert.Equal(8u, VfioIrq.VFIO_IRQ_SET_ACTION_MASK);
        Assert.Equal(16u, VfioIrq.VFIO_IRQ_SET_ACTION_UNMASK);
        Assert.Equal(32u, VfioIrq.VFIO_IRQ_SET_ACTION_TRIGGER);
        Assert.Equal(1u, VfioIrq.VFIO_IRQ_INFO_EVENTFD);
        Assert.Equal(0x3B6E, Vfio.VFIO_DEVICE_SET_IRQS); // _IO(';', 100 + 10)
        Assert.Equal(0x3B6D, Vfio.VFIO_DEVICE_GET_IRQ_INFO);
        Assert.Equal(VfioIrq.VFIO_PCI_MSIX_IRQ_INDEX, Hotplug.Pci.VfioInterrupts.IrqIndex(InterruptKind.MsiX));
        Assert.Equal(VfioIrq.VFIO_PCI_INTX_IRQ_INDEX, Hotplug.Pci.VfioInterrupts.IrqIndex(InterruptKind.Intx));
        Assert.Throws<ArgumentException>(() => Hotplug.Pci.VfioInterrupts.IrqIndex(InterruptKind.Uio));
    }

    [Fact]
    public void The_header_is_20_bytes_and_the_eventfds_follow_it_as_s32()
    {
        Assert.Equal(20, Marshal.SizeOf<VfioIrq.vfio_irq_set>());
        Assert.Equal(0, (int)Marshal.OffsetOf<VfioIrq.vfio_irq_set>("argsz"));
        Assert.Equal(4, (int)Marshal.OffsetOf<VfioIrq.vfio_irq_set>("flags"));
        Assert.Equal(8, (int)Marshal.OffsetOf<VfioIrq.vfio_irq_set>("index"));
        Assert.Equal(12, (int)Marshal.OffsetOf<VfioIrq.vfio_irq_set>("start"));
        Assert.Equal(16, (int)Marshal.OffsetOf<VfioIrq.vfio_irq_set>("count"));
        Assert.Equal(20 + 3 * 4, VfioIrq.IrqSetSize(3));

        Span<byte> buffer = stackalloc byte[64];
        buffer.Fill(0xEE);
        int size = VfioIrq.WriteIrqSet(buffer, VfioIrq.VFIO_IRQ_SET_DATA_EVENTFD | VfioIrq.VFIO_IRQ_SET_ACTION_TRIGGER,
            VfioIrq.VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, [7, 8, -1]);
        Assert.Equal(32, size);
        Assert.Equal(
            [32, 36, 2, 0, 3, 7, 8, -1],
            MemoryMarshal.Cast<byte, int>(buffer[..32]).ToArray());
        Assert.Equal(0xEE, buffer[32]); // nothing written past argsz
    }

    [Fact]
    public void Unmask_and_disable_carry_no_data()
    {
        Span<byte> buffer = stackalloc byte[20];
        Assert.Equal(20, VfioIrq.WriteIrqSet(buffer, VfioIrq.VFIO_IRQ_SET_DATA_NONE | VfioIrq.VFIO_IRQ_SET_ACTION_UNMASK,
            VfioIrq.VFIO_PCI_INTX_IRQ_INDEX, 0, 1, default));
        Assert.Equal([20, 17, 0, 0, 1], MemoryMarshal.Cast<byte, int>(buffer).ToArray());

        VfioIrq.WriteIrqSet(buffer, VfioIrq.VFIO_IRQ_SET_DATA_NONE | VfioIrq.VFIO_IRQ_SET_ACTION_TRIGGER,
            VfioIrq.VFIO_PCI_MSI_IRQ_INDEX, 0, 0, default);
        Assert.Equal([20, 33, 1, 0, 0], MemoryMarshal.Cast<byte, int>(buffer).ToArray());
        Assert.Throws<ArgumentException>(() => VfioIrq.WriteIrqSet(new byte[19], 1, 0, 0, 0, default));
    }

    [Fact]
    public void A_fd_that_is_not_a_vfio_device_is_refused_and_a_closed_one_makes_Disable_a_no_op()
    {
        using var notVfio = Sys.Open("/dev/null", Tmds.Linux.LibC.O_RDWR);
        var backend = new Hotplug.Pci.VfioInterrupts(notVfio);
        var e = Assert.Throws<IOException>(() => backend.Enable(InterruptKind.Msi, 1));
        Assert.Contains("VFIO_DEVICE_GET_IRQ_INFO", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.Enable(InterruptKind.MsiX, VfioIrq.MaxVectors + 1));
        notVfio.Dispose();
        backend.Disable();
        backend.Unmask(0);
        Assert.Throws<ObjectDisposedException>(() => backend.Info(InterruptKind.Intx));
    }
}
