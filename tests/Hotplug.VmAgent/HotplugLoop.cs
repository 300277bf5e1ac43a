using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>hotplug BDF KERNEL_DRIVER CYCLES [edu|e1000]</c>: attaches the device through Hotplug, runs its data path
/// (<see cref="IHotplugTarget"/>: edu's BAR0 poller, or an 82540EM port's receive bursts), and lives through
/// CYCLES surprise removals done by the host: REMOVE → stop the data path → detach; ADD → bind the kernel driver
/// again (driver_override was lost with the old device) → attach → data path. Reports every step; "detached" is
/// stamped when the detach returned (the device released), before its resource count.
/// </summary>
internal sealed class HotplugLoop
{
    private readonly string _bdf;
    private readonly string _kernelDriver;
    private readonly int _cycles;
    private readonly BlockingCollection<DeviceEvent> _events = new();
    private readonly string _kind;
    private IHotplugTarget _target = null!;
    private PciBus _pci = null!;

    public HotplugLoop(string bdf, string kernelDriver, int cycles, string kind = "edu")
    {
        _bdf = bdf;
        _kernelDriver = kernelDriver;
        _cycles = cycles;
        _kind = kind;
    }

    public int Run()
    {
        // The e1000's receive thread spins on the last CPU (as DPDK's forwarding lcore); the event thread keeps to
        // the others (as DPDK's interrupt thread keeps off its lcores).
        using var eal = PciEal.Create(new PciBusOptions { AllowList = [_bdf] },
            new EalOptions { EventThreadCpus = _kind == "e1000" ? E1000Target.ControlCpus() : null });
        _pci = eal.Pci();
        _target = _kind switch
        {
            "edu" => new EduTarget(),
            "e1000" => new E1000Target(eal.Pci()),
            _ => throw new ArgumentException($"unknown device kind {_kind} (edu or e1000)"),
        };
        eal.Pci().RegisterDriver(_target.Driver);
        eal.EnableHotplugHandling();
        eal.StartDeviceEventMonitor();
        using var reg = eal.DeviceEvents.Register(null, e =>
        {
            Report.Event(e);
            if (e.DeviceName == _bdf) _events.Add(e);
        });
        eal.Scan();
        eal.Probe();
        if (!Attached("attached")) return 1;

        for (int cycle = 1; cycle <= _cycles; cycle++)
        {
            WaitFor(DeviceEventType.Remove);
            _target.Stop(cycle);
            eal.HotplugRemove("pci", _bdf);
            Report.Emit("detached", w => { w.WriteNumber("cycle", cycle); Resources.Write(w); }); // "ms" is stamped first

            WaitFor(DeviceEventType.Add);
            BindKernelDriver();
            eal.HotplugAdd("pci", _bdf);
            if (!Attached("reattached", cycle)) return 1;
        }
        _target.Stop(0);
        eal.HotplugRemove("pci", _bdf);
        Report.Emit("finished", Resources.Write);
        return 0;
    }

    private DeviceEvent WaitFor(DeviceEventType type)
    {
        while (true)
        {
            var e = _events.Take();
            if (e.Type == type) return e;
        }
    }

    private bool Attached(string what, int cycle = 0)
    {
        var dev = _pci.Find(PciAddress.Parse(_bdf)) is { } found && ReferenceEquals(found.Driver, _target.Driver) ? found : null;
        if (dev == null)
        {
            Report.Error($"{_bdf} is not attached ({what})");
            return false;
        }
        bool ok = false;
        Report.Emit(what, w =>
        {
            w.WriteNumber("cycle", cycle);
            w.WriteString("dev", dev.Name);
            ok = _target.Start(dev, w);
            Resources.Write(w);
        });
        return ok;
    }

    private void BindKernelDriver()
    {
        string dev = $"/sys/bus/pci/devices/{_bdf}";
        for (int i = 0; i < 200 && !File.Exists($"{dev}/driver_override"); i++) Thread.Sleep(10);
        File.WriteAllText($"{dev}/driver_override", _kernelDriver);
        // The ADD uevent comes before the kernel lets drivers match the new device (match_driver), so a
        // drivers_probe written too early binds nothing: try again until the driver link is there.
        int tries = 0;
        while (!Directory.Exists($"{dev}/driver") && tries++ < 100)
        {
            try { File.WriteAllText("/sys/bus/pci/drivers_probe", _bdf); } catch (IOException) { }
            if (!Directory.Exists($"{dev}/driver")) Thread.Sleep(10);
        }
        Report.Emit("kernel-bound", w => { w.WriteString("driver", _kernelDriver); w.WriteNumber("tries", tries); });
    }
}
