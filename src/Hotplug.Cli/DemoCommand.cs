using System.CommandLine;
using Hotplug;
using Hotplug.Uevents;
using Hotplug.Pci;
using Hotplug.Testing;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Hotplug.Cli;

/// <summary>
/// <c>hotplug demo</c>: a simulated PCI device (fake sysfs + memfd BAR) is read by a data-path thread and
/// pulled out from under it. Prints the timeline; exits 0 only if the app survived, got REMOVE, stopped
/// its data path, detached, and re-attached the device when it came back.
/// </summary>
internal static class DemoCommand
{
    private const string Address = "0000:01:00.0";

    public static Command Create()
    {
        var fill = new Option<BarFill>("--fill") { Description = "What the dead BAR reads as: AllOnes (like PCIe) or Zero (like DPDK).", DefaultValueFactory = _ => BarFill.AllOnes };
        var verbose = new Option<bool>("--verbose") { Description = "Log the library's messages." };
        var cmd = new Command("demo", "Pull a simulated device out from under a running data path (no hardware needed).") { fill, verbose };
        cmd.SetAction(r => Run(r.GetValue(fill), r.GetValue(verbose)));
        return cmd;
    }

    private static int Run(BarFill fill, bool verbose)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Error));
        using var sim = SimulatedPciBus.Create();
        var device = sim.AddDevice(Address, 0x1234, 0x11e8, [1UL << 20]);
        device.WriteRegister32(0, EduDriver.IdRegister, EduDriver.ExpectedId);
        using var eal = PciEal.Create(sim.CreateOptions(fill), null, loggers);
        eal.Pci().RegisterDriver(new EduDriver());

        SigbusFault? fault = null;
        DeviceEvent? removeEvent = null;
        long removeCallbackNs = 0;
        var removed = new ManualResetEventSlim();
        eal.SigbusFaultHandled += f => fault ??= f;
        eal.DeviceEvents.Register(Address, e =>
        {
            if (e.Type != DeviceEventType.Remove)
                return;
            removeCallbackNs = BusHost.MonotonicNs();
            removeEvent = e;
            removed.Set(); // the app's reaction: stop the port
        });
        eal.EnableHotplugHandling();
        eal.Scan();
        var pci = (PciDevice)eal.HotplugAdd("pci", Address);
        var bar = pci.Bar(0);
        AnsiConsole.MarkupLine($"[bold]attached[/] {Address} (edu, BAR0 {bar.Length >> 10} KiB mapped through {bar.Kind}), hotplug handling on");

        long reads = 0, deadReads = 0;
        uint lastValue = 0;
        var readingLive = new ManualResetEventSlim(); // the data path has read the live device
        var dataPath = new Thread(() =>
        {
            // Like a real poll loop: check the stop flag, then touch the device. The pass that sees the flag
            // still reads once more, so the last value is read after the REMOVE (the BAR was remapped before
            // REMOVE was published), however late the scheduler let this thread run.
            bool stopping;
            do
            {
                stopping = removed.IsSet;
                lastValue = bar.Read32(EduDriver.IdRegister);
                bar.Write32(EduDriver.InvertRegister, (uint)reads);
                reads++;
                if (lastValue != EduDriver.ExpectedId)
                    deadReads++;
                else if (!readingLive.IsSet)
                    readingLive.Set();
            }
            while (!stopping);
        }) { Name = "data-path", IsBackground = true };
        dataPath.Start();
        // Pull the device only once the data path is really touching it (reads the live id).
        bool wasLive = readingLive.Wait(TimeSpan.FromSeconds(10));
        long readsBefore = Interlocked.Read(ref reads);

        // The surprise, in the order a pulled device shows it: its memory goes first (the data path's next
        // access is a real SIGBUS), then the rest of the removal: the uio node hangs up and the sysfs entry
        // goes (the library makes no second REMOVE of those).
        long pulledNs = BusHost.MonotonicNs();
        device.FailBars();
        bool gotRemove = removed.Wait(TimeSpan.FromSeconds(10));
        device.Remove();
        bool stopped = dataPath.Join(TimeSpan.FromSeconds(10));
        long stoppedNs = BusHost.MonotonicNs();
        bool detached = false;
        if (gotRemove)
        {
            eal.HotplugRemove("pci", Address);
            detached = pci.Driver is null;
        }
        long detachedNs = BusHost.MonotonicNs();

        // The device comes back (a new one at the same address): attach it again.
        var again = sim.AddDevice(Address, 0x1234, 0x11e8, [1UL << 20]);
        again.WriteRegister32(0, EduDriver.IdRegister, EduDriver.ExpectedId);
        uint reattachedId = 0;
        try
        {
            reattachedId = ((PciDevice)eal.HotplugAdd("pci", Address)).Bar(0).Read32(EduDriver.IdRegister);
        }
        catch (HotplugException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]re-attach failed:[/] {e.Message}");
        }

        static string Us(long ns) => $"+{ns / 1000.0:F1} µs";
        var table = new Table().AddColumn("step").AddColumn("when (from the pull)").AddColumn("detail");
        table.AddRow("device pulled", Us(0), "BAR memory gone (memfd truncated); uio node and sysfs entry go after REMOVE");
        if (fault is { } f)
        {
            table.AddRow("SIGBUS on the data path", Us(f.FaultNs - pulledNs), $"thread {f.ThreadId}, address 0x{f.Address:x}");
            table.AddRow("BAR remapped by the shim", Us(f.RemappedNs - pulledNs), $"{(f.RemappedNs - f.FaultNs) / 1000.0:F1} µs after the fault; access retried");
            table.AddRow("fault seen by managed code", Us(f.HandledNs - pulledNs), "event thread");
        }
        else
        {
            table.AddRow("no SIGBUS", "-", "the data path never faulted");
        }
        if (removeEvent is { } r)
            table.AddRow("REMOVE callback", Us(removeCallbackNs - pulledNs), $"source {r.Source}; {(removeCallbackNs - r.TimestampNs) / 1000.0:F1} µs after the first signal");
        table.AddRow("data path stopped", Us(stoppedNs - pulledNs), $"{reads:N0} reads ({readsBefore:N0} before the pull), {deadReads:N0} read the dead value 0x{lastValue:x8}");
        table.AddRow("device detached", Us(detachedNs - pulledNs), detached ? "driver removed, BAR unmapped" : "NOT detached");
        table.AddRow("device re-attached", "", $"BAR0 reg 0 reads 0x{reattachedId:x8}");
        AnsiConsole.Write(table);

        uint dead = fill == BarFill.AllOnes ? 0xFFFFFFFF : 0;
        var failures = new List<string>();
        if (!wasLive) failures.Add("the data path did not read the live device within 10 s");
        if (fault is null) failures.Add("no SIGBUS was handled");
        if (!gotRemove) failures.Add("no REMOVE within 10 s");
        else if (removeEvent?.Source != DeviceEventSource.Sigbus) failures.Add($"REMOVE came from {removeEvent?.Source}, not from the SIGBUS");
        if (!stopped) failures.Add("the data path did not stop");
        if (!detached) failures.Add("the device was not detached");
        if (lastValue != dead) failures.Add($"the last read after REMOVE gave 0x{lastValue:x8}, not 0x{dead:x8}");
        if (reattachedId != EduDriver.ExpectedId) failures.Add($"the re-attached device reads 0x{reattachedId:x8}");
        if (failures.Count == 0)
            AnsiConsole.MarkupLine("[green]survived the surprise removal[/]");
        else
            AnsiConsole.MarkupLineInterpolated($"[red]demo FAILED:[/] {string.Join("; ", failures)}");
        return failures.Count == 0 ? 0 : 1;
    }
}
