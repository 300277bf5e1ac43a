using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Support;

/// <summary>A simulated edu-like device attached through the public API, with hotplug handling on.</summary>
internal sealed class SimulatedRig : IDisposable
{
    public const string Address = "0000:01:00.0";
    public readonly SimulatedPciBus Sim;
    public readonly SimulatedPciDevice Device;
    public readonly Eal Eal;
    public readonly SimulatedDriver Driver = new("test-driver", new PciId(0x1234, 0x11e8));
    public readonly List<DeviceEvent> Events = [];
    public readonly SemaphoreSlim RemoveSeen = new(0);
    private readonly ILoggerFactory _loggers;

    public SimulatedRig(ITestOutputHelper output, ulong[]? bars = null, BarFill fill = BarFill.AllOnes, bool enable = true, LogLevel logLevel = LogLevel.Information)
    {
        Sim = SimulatedPciBus.Create();
        Device = Sim.AddDevice(Address, 0x1234, 0x11e8, bars ?? [1UL << 20]);
        Device.WriteRegister32(0, 0, 0x010000ed);
        _loggers = XunitLoggerFactory.Create(output, logLevel);
        Eal = PciEal.Create(Sim.CreateOptions(fill), null, _loggers);
        Eal.Pci().RegisterDriver(Driver);
        Eal.DeviceEvents.Register(null, e =>
        {
            lock (Events)
                Events.Add(e);
            if (e.Type == DeviceEventType.Remove)
                RemoveSeen.Release();
        });
        if (enable)
            Eal.EnableHotplugHandling();
        Eal.Scan();
        Pci = (PciDevice)Eal.HotplugAdd("pci", Address);
    }

    public PciDevice Pci { get; }

    public MappedBar Bar0 => Pci.Bar(0);

    public List<DeviceEvent> Snapshot()
    {
        lock (Events)
            return [.. Events];
    }

    /// <summary>Waits for the REMOVE callback (bounded; a miss fails the test, it is not a timing assertion).</summary>
    public DeviceEvent WaitRemove()
    {
        Assert.True(RemoveSeen.Wait(TimeSpan.FromSeconds(10)), "no REMOVE callback within 10 s");
        return Snapshot().Last(e => e.Type == DeviceEventType.Remove);
    }

    /// <summary>Lets the event thread finish what is queued: sources already signalled, then their callbacks.</summary>
    public void Settle()
    {
        Eal.FlushEventThread();
        Eal.FlushEventThread();
    }

    public void Dispose()
    {
        Eal.Dispose();
        Sim.Dispose();
        _loggers.Dispose();
    }
}
