using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// What most scenarios start with: an Eal with a PCI bus allow-listing one device, a driver registered, hotplug
/// handling on, the uevent monitor on (unless asked not to), every device event reported and the device's own
/// queued for the scenario, and the bus scanned.
/// </summary>
internal sealed class AgentSession : IDisposable
{
    private readonly IDisposable _registration;

    public AgentSession(string bdf, PciDriver driver, bool monitor = true)
    {
        Eal = PciEal.Create(new PciBusOptions { AllowList = [bdf] });
        Pci = Eal.Pci();
        Pci.RegisterDriver(driver);
        Eal.EnableHotplugHandling();
        if (monitor)
            Eal.StartDeviceEventMonitor();
        _registration = Eal.DeviceEvents.Register(null, e =>
        {
            Report.Event(e);
            if (e.DeviceName == bdf) Events.Add(e);
        });
        Eal.Scan();
    }

    public Eal Eal { get; }

    public PciBus Pci { get; }

    /// <summary>The device's events, in order.</summary>
    public BlockingCollection<DeviceEvent> Events { get; } = new();

    public void Dispose()
    {
        _registration.Dispose();
        Eal.Dispose();
    }
}
