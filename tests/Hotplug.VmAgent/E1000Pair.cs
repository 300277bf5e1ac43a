using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Dma;
using Hotplug.E1000;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// Two 82540EM ports attached through one Eal (hotplug handling and the uevent monitor on, every device event
/// reported and queued), each with the bus's allocator for it, links up; then QEMU's 1 s receive hold-back waited out.
/// </summary>
internal sealed class E1000Pair : IDisposable
{
    private readonly IDisposable _registration;

    public E1000Pair(string bdfA, string bdfB, E1000PortOptions? options = null)
    {
        Eal = PciEal.Create(new PciBusOptions { AllowList = [bdfA, bdfB] });
        var pci = Eal.Pci();
        pci.RegisterDriver(Driver);
        Eal.EnableHotplugHandling();
        Eal.StartDeviceEventMonitor();
        _registration = Eal.DeviceEvents.Register(null, e =>
        {
            Report.Event(e);
            Events.Add(e);
        });
        Eal.Scan();
        DevA = (PciDevice)Eal.HotplugAdd("pci", bdfA);
        DevB = (PciDevice)Eal.HotplugAdd("pci", bdfB);
        DmaA = pci.DmaFor(DevA);
        DmaB = pci.DmaFor(DevB);
        A = E1000Port.Attach(DevA, DmaA, options);
        B = E1000Port.Attach(DevB, DmaB, options);
        LinksUp = A.WaitForLink(TimeSpan.FromSeconds(5)) & B.WaitForLink(TimeSpan.FromSeconds(5));
        Report.Emit("e1000-up", w =>
        {
            w.WriteString("kdrv", DevA.Info.KernelDriverName ?? "");
            w.WriteString("mac_a", A.MacString);
            w.WriteString("mac_b", B.MacString);
            w.WriteString("link_a", A.Link.ToString());
            w.WriteString("link_b", B.Link.ToString());
            w.WriteNumber("attach_a_ms", A.AttachTime.TotalMilliseconds);
            w.WriteNumber("attach_b_ms", B.AttachTime.TotalMilliseconds);
            w.WriteBoolean("one_allocator", ReferenceEquals(DmaA, DmaB));
        });
        Thread.Sleep(1100); // QEMU's e1000 holds received frames back for 1 s after each RCTL write (its flush timer)
    }

    public E1000Driver Driver { get; } = new();
    public Eal Eal { get; }
    public BlockingCollection<DeviceEvent> Events { get; } = new();
    public PciDevice DevA { get; }
    public PciDevice DevB { get; }
    public DmaAllocator DmaA { get; }
    public DmaAllocator DmaB { get; }
    public E1000Port A { get; }
    public E1000Port B { get; }
    public bool LinksUp { get; }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
        _registration.Dispose();
        Eal.Dispose();
    }
}
