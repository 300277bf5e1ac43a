using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>hotplug BDF KERNEL_DRIVER CYCLES</c>: attaches the edu device through Hotplug, runs a data path thread
/// on BAR0 (reads the identification register, writes/reads the inverter), and lives through CYCLES
/// surprise removals done by the host: REMOVE → stop the data path → detach; ADD → bind the kernel driver
/// again (driver_override was lost with the old device) → attach → data path. Reports every step.
/// </summary>
internal sealed class HotplugLoop
{
    private readonly string _bdf;
    private readonly string _kernelDriver;
    private readonly int _cycles;
    private readonly BlockingCollection<DeviceEvent> _events = new();
    private EduDataPath? _dataPath;

    public HotplugLoop(string bdf, string kernelDriver, int cycles)
    {
        _bdf = bdf;
        _kernelDriver = kernelDriver;
        _cycles = cycles;
    }

    public int Run()
    {
        var driver = new EduDriver();
        using var eal = PciEal.Create(new PciBusOptions { AllowList = [_bdf] });
        eal.Pci().RegisterDriver(driver);
        eal.EnableHotplugHandling();
        eal.StartDeviceEventMonitor();
        using var reg = eal.DeviceEvents.Register(null, e =>
        {
            Report.Event(e);
            if (e.DeviceName == _bdf) _events.Add(e);
        });
        eal.Scan();
        eal.Probe();
        if (!Attached(driver, "attached")) return 1;

        for (int cycle = 1; cycle <= _cycles; cycle++)
        {
            WaitFor(DeviceEventType.Remove);
            StopDataPath(cycle, driver.Device?.Bar(0));
            eal.HotplugRemove("pci", _bdf);
            Report.Emit("detached", w => { w.WriteNumber("cycle", cycle); Resources.Write(w); });

            WaitFor(DeviceEventType.Add);
            BindKernelDriver();
            eal.HotplugAdd("pci", _bdf);
            if (!Attached(driver, "reattached", cycle)) return 1;
        }
        StopDataPath(0);
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

    private bool Attached(EduDriver driver, string what, int cycle = 0)
    {
        var dev = driver.Device;
        if (dev == null)
        {
            Report.Error($"{_bdf} is not attached ({what})");
            return false;
        }
        var bar = dev.Bar(0);
        uint id = bar.Read32(0);
        Report.Emit(what, w =>
        {
            w.WriteNumber("cycle", cycle);
            w.WriteString("dev", dev.Name);
            w.WriteString("kind", bar.Kind.ToString());
            w.WriteString("id", $"0x{id:x8}");
            Resources.Write(w);
        });
        StartDataPath(bar);
        return id == EduDriver.Identification;
    }

    private void StartDataPath(MappedBar bar) => _dataPath = new EduDataPath(bar);

    private void StopDataPath(int cycle, MappedBar? bar = null)
    {
        var totals = _dataPath?.Stop() ?? default;
        _dataPath = null;
        // What the BAR reads now, after REMOVE and before the detach (the data path may not have run since).
        uint? final = bar?.Read32(0);
        Report.Emit("datapath-stopped", w =>
        {
            w.WriteNumber("cycle", cycle);
            w.WriteNumber("reads", totals.Reads);
            w.WriteNumber("dead_reads", totals.DeadReads);
            w.WriteString("last", $"0x{totals.Last:x8}");
            w.WriteNumber("inverter_errors", totals.InverterErrors);
            if (final is uint f) w.WriteString("final", $"0x{f:x8}");
        });
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
