using Hotplug.Eal;
using Hotplug.Events;
using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>Auto-attach of allow-listed devices the kernel adds back.</summary>
public sealed partial class PciBus
{
    /// <summary>
    /// Sees every kernel uevent before it is mapped to a device event. For allow-listed devices with
    /// <see cref="PciBusOptions.AutoProbeOnAdd"/>: on ADD, bind the new function to
    /// <see cref="PciBusOptions.BindOnAdd"/> if set (the old function's driver_override died with it), and
    /// attach it as soon as a uio or vfio driver is bound (the kernel's <c>bind</c> uevent; ADD comes first).
    /// </summary>
    internal void ObserveUevent(Uevent ev)
    {
        if (!Options.AutoProbeOnAdd || ev.Subsystem != "pci" || ev.Action is not (UeventAction.Add or UeventAction.Bind)
            || ev["PCI_SLOT_NAME"] is not { } slot || !PciAddress.TryParse(slot, out var a) || !_allow.Contains(a))
            return;
        if (ev.Action == UeventAction.Add && Options.BindOnAdd is { } driver)
            PciDriverBinder.Bind(Scanner.Root, a, driver, _logger);
        if (ev.Action == UeventAction.Bind && SysfsPciScanner.Classify(ev["DRIVER"]) is PciKernelDriver.None or PciKernelDriver.Other)
            return;
        AutoProbe(a);
    }

    private void AutoProbe(PciAddress a)
    {
        if (_devices.TryGetValue(a, out var old) && old.Driver is not null)
        {
            if (old.State == DeviceState.Probed)
                return; // attached already (the bind that follows our own probe, or a repeat)
            _logger.LogWarning("{Device} is back but the old one is still attached; detach it to attach the new one", a);
            return;
        }
        if (Scanner.Exists(a) && SysfsPciScanner.Classify(ReadDriverName(a)) is PciKernelDriver.None or PciKernelDriver.Other)
        {
            _logger.LogDebug("{Device} has no uio/vfio driver yet; waiting for its bind", a);
            return;
        }
        try
        {
            Plug(a.ToString(), old?.Args);
        }
        catch (HotplugException e)
        {
            _logger.LogWarning("Auto-probe of {Device} failed: {Error}", a, e.Message);
        }
    }

    private string? ReadDriverName(PciAddress a) =>
        new FileInfo(Path.Combine(Scanner.Root, a.ToString(), "driver")).LinkTarget is { } t ? Path.GetFileName(t) : null;
}
