using Hotplug.FailSafe;
using Hotplug.Testing;
using Hotplug.Tests.Support;
using Hotplug.Tests.Uevents;
using Hotplug.Uevents;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.FailSafe;

/// <summary>The app's port in the tests: the device's BAR 0 and whether the group stopped it.</summary>
internal sealed class TestPort(PciDevice device)
{
    public string Name { get; } = device.Name;
    public long Generation { get; } = device.Generation;
    public MappedBar Bar { get; } = device.Bar(0);
    private int _stopped;
    public bool Stopped => Volatile.Read(ref _stopped) != 0;
    public void Stop() => Volatile.Write(ref _stopped, 1);
}

/// <summary>Two simulated devices (primary 01:00.0 reads 0x11111111, standby 02:00.0 reads 0x22222222), both attached, and a group over them.</summary>
internal sealed class FailSafeRig : IDisposable
{
    public const string Primary = "0000:01:00.0";
    public const string Standby = "0000:02:00.0";
    public const uint PrimaryValue = 0x11111111;
    public const uint StandbyValue = 0x22222222;
    public static readonly TimeSpan Bounded = TimeSpan.FromSeconds(10);

    public readonly SimulatedPciBus Sim = SimulatedPciBus.Create();
    public readonly Dictionary<string, SimulatedPciDevice> Devices = [];
    public readonly Eal Eal;
    public readonly FailSafeGroup<TestPort> Group;
    public readonly List<FailSafeSwitch> Switches = [];
    public readonly SemaphoreSlim SwitchSeen = new(0);
    public readonly List<TestPort> Opened = [];
    public readonly SimulatedDriver Driver = new("test-driver");
    /// <summary>Runs in the group's stop action, after the port is stopped (on the event thread, under the group's lock).</summary>
    public Action? OnStop;
    private readonly ILoggerFactory _loggers;

    public FailSafeRig(ITestOutputHelper output, bool autoAttach = false, bool attachOnBound = false, TimeSpan? settle = null,
        Func<PciDevice, TestPort>? open = null, bool start = true)
    {
        AddDevice(Primary);
        AddDevice(Standby);
        _loggers = XunitLoggerFactory.Create(output, LogLevel.Information);
        var o = Sim.CreateOptions();
        Eal = PciEal.Create(new PciBusOptions
        {
            SysfsRoot = o.SysfsRoot, DevRoot = o.DevRoot, AutoProbeOnAdd = autoAttach, AllowList = autoAttach ? [Primary, Standby] : [],
        }, null, _loggers);
        Eal.Pci().RegisterDriver(Driver);
        Eal.EnableHotplugHandling();
        Eal.Scan();
        if (!attachOnBound)
        {
            Eal.HotplugAdd("pci", Primary);
            Eal.HotplugAdd("pci", Standby);
        }
        Group = new FailSafeGroup<TestPort>(Eal, new FailSafeOptions { AttachOnBound = attachOnBound, SwitchBackSettle = settle ?? TimeSpan.FromMilliseconds(300) });
        open ??= d => new TestPort(d);
        foreach (string name in new[] { Primary, Standby })
        {
            Group.AddMember("pci", name, d =>
            {
                var p = open((PciDevice)d);
                lock (Opened)
                    Opened.Add(p);
                return p;
            }, p => { p.Stop(); OnStop?.Invoke(); });
        }
        Group.Switched += s =>
        {
            lock (Switches)
                Switches.Add(s);
            SwitchSeen.Release();
        };
        if (start)
            Group.Start();
    }

    public SimulatedPciDevice AddDevice(string address)
    {
        var d = Sim.AddDevice(address, 0x1234, 0x11e8, [1UL << 16]);
        d.WriteRegister32(0, 0, address == Primary ? PrimaryValue : StandbyValue);
        Devices[address] = d;
        return d;
    }

    /// <summary>The device comes back: a new function at the same address, then the kernel's add and bind uevents.</summary>
    public void ReAdd(string address, bool bind = true)
    {
        AddDevice(address);
        Eal.InjectUevent(PciUevent("add", address));
        if (bind)
            Eal.InjectUevent(PciUevent("bind", address, "DRIVER=uio_pci_generic"));
    }

    /// <summary>The next switch (bounded wait: a miss fails the test; it is not a timing assertion).</summary>
    public FailSafeSwitch WaitSwitch()
    {
        Assert.True(SwitchSeen.Wait(Bounded), "no fail-safe switch within 10 s");
        lock (Switches)
            return Switches[^1];
    }

    public List<FailSafeSwitch> SwitchesSnapshot()
    {
        lock (Switches)
            return [.. Switches];
    }

    public FailSafeMemberStatus Member(string name) => Group.Members.Single(m => m.DeviceName == name);

    public void WaitMemberState(string name, FailSafeMemberState state) =>
        Assert.True(SpinWait.SpinUntil(() => Member(name).State == state, Bounded), $"{name} did not become {state}: {Member(name).State}");

    public void Settle()
    {
        Eal.FlushEventThread();
        Eal.FlushEventThread();
    }

    public static Uevent PciUevent(string action, string slot, params string[] extra)
    {
        string path = $"/devices/pci0000:00/0000:00:10.0/{slot}";
        string text = $"{action}@{path}\0ACTION={action}\0DEVPATH={path}\0SUBSYSTEM=pci\0{string.Concat(extra.Select(e => e + "\0"))}PCI_ID=1234:11E8\0PCI_SLOT_NAME={slot}\0SEQNUM=901\0";
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(text), out var ev, out string? error), error);
        return ev!;
    }

    public void Dispose()
    {
        Group.Dispose();
        Eal.Dispose();
        Sim.Dispose();
        _loggers.Dispose();
    }
}
