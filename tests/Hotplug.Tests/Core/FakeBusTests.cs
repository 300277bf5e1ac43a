using System.Diagnostics.CodeAnalysis;
using Hotplug.Uevents;

namespace Hotplug.Tests.Core;

/// <summary>The core works with any bus: a bus of a few lines, no PCI, driven through scan, hotplug add/remove and a removal.</summary>
public sealed class FakeBusTests
{
    private sealed class FakeDevice(IBus bus, string name) : Device(bus, name)
    {
        public void Set(Driver? driver, DeviceState state, long generation) => (Driver, State, Generation) = (driver, state, generation);
    }

    private sealed class FakeDriver : Driver
    {
        public override string Name => "fake-driver";
    }

    /// <summary>The whole bus: devices are names in a set; attach and detach flip the state.</summary>
    private sealed class FakeBus : IBus
    {
        private readonly Dictionary<string, FakeDevice> _devices = [];
        public HashSet<string> Present { get; } = [];
        public BusHost? Host { get; private set; }
        public int Unplugged { get; private set; }
        public string Name => "fake";
        public IReadOnlyList<Device> Devices => [.. _devices.Values];
        public bool ReleasePending => false;
        public void Attach(BusHost host) => Host = host;
        public BusScanResult Scan()
        {
            var added = Present.Where(n => !_devices.ContainsKey(n)).ToList();
            foreach (string n in added)
                _devices[n] = new FakeDevice(this, n);
            var gone = _devices.Keys.Where(n => !Present.Contains(n) && _devices[n].Driver is null).ToList();
            foreach (string n in gone)
                _devices.Remove(n);
            return new BusScanResult(added, gone, []);
        }
        public int Probe() => 0;
        public Device? FindDevice(string name) => _devices.GetValueOrDefault(name);
        public bool TryParseDeviceName(string name, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? error)
        {
            (canonical, error) = name.StartsWith("dev", StringComparison.Ordinal) ? (name, null) : ((string?)null, "fake devices are named devN");
            return canonical is not null;
        }
        public Device Plug(string canonicalName, string? args)
        {
            var d = _devices.GetValueOrDefault(canonicalName) ?? throw new DeviceNotFoundException(Name, canonicalName);
            d.Set(new FakeDriver(), DeviceState.Probed, Host!.BeginAttachment(d));
            return d;
        }
        public void Unplug(Device device)
        {
            ((FakeDevice)device).Set(null, DeviceState.Parsed, 0);
            Unplugged++;
        }
        public HotUnplugResult HotUnplugHandler(Device device)
        {
            if (device is not FakeDevice || device.State != DeviceState.Probed)
                return HotUnplugResult.NotHandled;
            ((FakeDevice)device).Set(device.Driver, DeviceState.Removed, device.Generation);
            return new HotUnplugResult(true, null);
        }
        public SigbusResult SigbusHandler(Device device, nint faultAddress) => SigbusResult.NotMine;
        public void ObserveUevent(Uevent uevent) { }
        public bool TryMapUevent(Uevent uevent, [NotNullWhen(true)] out string? deviceName, out DeviceEventType type)
        {
            (deviceName, type) = (null, default);
            return false;
        }
        public void WarmRemovalPath() { }
    }

    [Fact]
    public void Scan_hotplug_add_a_removal_and_hotplug_remove_go_through_the_core_without_pci()
    {
        using var eal = new Eal();
        var bus = eal.Buses.Register(new FakeBus());
        var events = new List<DeviceEvent>();
        using var _ = eal.DeviceEvents.Register(null, e => { lock (events) events.Add(e); });
        bus.Present.Add("dev0");

        Assert.Equal(["dev0"], eal.Scan().Added);
        var d = eal.HotplugAdd("fake", "dev0");
        Assert.Equal(DeviceState.Probed, d.State);
        Assert.NotEqual(0, d.Generation);

        var ex = Assert.Throws<DeviceNotFoundException>(() => eal.HotplugAdd("fake", "nope"));
        Assert.Contains("fake devices are named devN", ex.Message);

        bus.Host!.ReportRemoval(d, DeviceEventSource.Uevent, BusHost.MonotonicNs()); // the bus's own source says it is gone
        bus.Host.ReportRemoval(d, DeviceEventSource.Scan, BusHost.MonotonicNs());    // a second source: no second REMOVE
        eal.FlushEventThread();
        Assert.Equal(DeviceState.Removed, d.State);
        var remove = Assert.Single(Snapshot(events), e => e.Type == DeviceEventType.Remove);
        Assert.Equal(("fake", "dev0", d.Generation), (remove.BusName, remove.DeviceName, remove.Generation));

        Assert.True(eal.HotplugRemove(remove));
        Assert.False(eal.HotplugRemove(remove)); // stale now: detached already
        Assert.Equal(1, bus.Unplugged);
        Assert.Throws<HotplugException>(() => eal.HotplugRemove("fake", "dev0"));
    }

    private static List<DeviceEvent> Snapshot(List<DeviceEvent> events)
    {
        lock (events)
            return [.. events];
    }
}
