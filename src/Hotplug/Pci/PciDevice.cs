using Hotplug.Interrupts;

namespace Hotplug.Pci;

/// <summary>A PCI function known to the <see cref="PciBus"/>.</summary>
public sealed class PciDevice : Device
{
    internal PciDevice(PciBus bus, PciDeviceInfo info) : base(bus, info.Address.ToString())
    {
        Info = info;
        Config = new PciConfigSpace(this);
    }

    /// <summary>The function's address.</summary>
    public PciAddress Address => Info.Address;

    /// <summary>What the last scan read about it (kept as it was while attached).</summary>
    public PciDeviceInfo Info { get; internal set; }

    /// <summary>The attached driver, or null.</summary>
    public new PciDriver? Driver => (PciDriver?)base.Driver;

    /// <summary>The memory BARs mapped for the driver (empty when not mapped).</summary>
    public IReadOnlyList<MappedBar> Bars => Attachment?.Bars ?? [];

    /// <summary>Config space, through the attachment (the vfio config region, or sysfs <c>config</c> for uio).</summary>
    public PciConfigSpace Config { get; }

    /// <summary>The mapped BAR number <paramref name="index"/>.</summary>
    /// <exception cref="InvalidOperationException">That BAR is not mapped.</exception>
    public MappedBar Bar(int index)
    {
        var bars = Bars; // no allocation (no enumerator, no copy): data paths call this in their loops
        for (int i = 0; i < bars.Count; i++)
        {
            if (bars[i].Index == index)
                return bars[i];
        }
        throw new InvalidOperationException($"BAR{index} of {Name} is not mapped.");
    }

    /// <summary>
    /// Sets up <paramref name="count"/> interrupt vectors of <paramref name="kind"/> (vfio: MSI-X, MSI or INTx through
    /// eventfds; uio: its one interrupt, <see cref="InterruptKind.Uio"/>), replacing any set up before. Each vector can
    /// be awaited, called back on the event thread, or taken as a raw fd. When the device goes, every waiter completes
    /// at once with <see cref="InterruptWaitStatus.DeviceRemoved"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The device is not attached.</exception>
    /// <exception cref="NotSupportedException">Its attachment has no interrupt of that kind.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The device has fewer vectors of that kind.</exception>
    public IReadOnlyList<InterruptVector> EnableInterrupts(InterruptKind kind, int count = 1) =>
        (Attachment ?? throw new InvalidOperationException($"{Name} is not attached: HotplugAdd it first.")).EnableInterrupts(kind, count);

    /// <summary>How the device is held while attached (sysfs resource, uio or vfio), or null.</summary>
    internal PciAttachment? Attachment { get; set; }

    /// <summary>A scan has already reported this attached device as gone; later scans do not repeat it.</summary>
    internal bool GoneReportedByScan { get; set; }

    internal void SetAttached(PciDriver? driver, DeviceState state, long generation)
    {
        base.Driver = driver;
        State = state;
        Generation = generation;
    }

    internal void SetState(DeviceState state) => State = state;

    internal void SetArgs(string? args) => Args = args;
}
