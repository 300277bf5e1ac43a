using Hotplug.Uevents;
using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>
/// Auto-attach of allow-listed devices the kernel adds back (<see cref="PciBusOptions.AutoProbeOnAdd"/>): on ADD,
/// bind the new function to <see cref="PciBusOptions.BindOnAdd"/> if set (the old function's driver_override died
/// with it), and attach it as soon as a uio or vfio driver is bound (the kernel's <c>bind</c> uevent; ADD comes first).
/// </summary>
internal sealed class PciAutoAttach(PciBus bus, PciProber prober, ILogger logger)
{
    public void Observe(Uevent ev)
    {
        var options = bus.Options;
        if (!options.AutoProbeOnAdd || ev.Subsystem != "pci" || ev.Action is not (UeventAction.Add or UeventAction.Bind)
            || ev["PCI_SLOT_NAME"] is not { } slot || !PciAddress.TryParse(slot, out var a) || !prober.IsAllowListed(a))
            return;
        if (ev.Action == UeventAction.Add && options.BindOnAdd is { } driver)
            PciDriverBinder.Bind(bus.Scanner.Root, a, driver, logger);
        if (ev.Action == UeventAction.Bind && SysfsPciScanner.Classify(ev["DRIVER"]) is PciKernelDriver.None or PciKernelDriver.Other)
            return;
        AutoProbe(a);
    }

    private void AutoProbe(PciAddress a)
    {
        var old = bus.Find(a);
        if (old is { Driver: not null })
        {
            if (old.State == DeviceState.Probed)
                return; // attached already (the bind that follows our own probe, or a repeat)
            logger.LogWarning("{Device} is back but the old one is still attached; detach it to attach the new one", a);
            return;
        }
        if (bus.Scanner.Exists(a) && SysfsPciScanner.Classify(ReadDriverName(a)) is PciKernelDriver.None or PciKernelDriver.Other)
        {
            logger.LogDebug("{Device} has no uio/vfio driver yet; waiting for its bind", a);
            return;
        }
        try
        {
            bus.Plug(a.ToString(), old?.Args);
        }
        catch (HotplugException e)
        {
            logger.LogWarning("Auto-probe of {Device} failed: {Error}", a, e.Message);
        }
    }

    private string? ReadDriverName(PciAddress a) =>
        new FileInfo(Path.Combine(bus.Scanner.Root, a.ToString(), "driver")).LinkTarget is { } t ? Path.GetFileName(t) : null;
}
