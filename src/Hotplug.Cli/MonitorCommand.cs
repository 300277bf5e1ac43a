using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hotplug;
using Hotplug.Uevents;
using Hotplug.Pci;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Hotplug.Cli;

/// <summary><c>hotplug monitor</c>: device events live (and, with --all-subsystems, every kernel uevent).</summary>
internal static class MonitorCommand
{
    public static Command Create()
    {
        var all = new Option<bool>("--all-subsystems") { Description = "Also print every kernel uevent (net, mem, ...), not only PCI device events." };
        var json = new Option<bool>("--json") { Description = "One JSON object per line." };
        var sysfs = new Option<string?>("--sysfs") { Description = "PCI devices directory (default /sys/bus/pci/devices or $HOTPLUG_SYSFS_PCI_DEVICES); read-only." };
        var count = new Option<int>("--count") { Description = "Stop after this many lines (0: run until Ctrl+C)." };
        var timeout = new Option<double>("--timeout") { Description = "Stop after this many seconds (0: no limit)." };
        var cmd = new Command("monitor", "Print device events live: time, action, device, source (uevent / uio / sigbus / vfio-req).") { all, json, sysfs, count, timeout };
        cmd.SetAction(r => Run(r.GetValue(all), r.GetValue(json), r.GetValue(sysfs), r.GetValue(count), r.GetValue(timeout)));
        return cmd;
    }

    private static int Run(bool allSubsystems, bool json, string? sysfs, int count, double timeoutSeconds)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        var pci = sysfs is null ? new PciBusOptions() : new PciBusOptions { SysfsRoot = sysfs };
        using var eal = PciEal.Create(pci, null, loggers);
        using var done = new ManualResetEventSlim();
        int lines = 0;
        var gate = new Lock();
        void Emit(MonitorLine line)
        {
            lock (gate)
            {
                if (json)
                    Console.WriteLine(JsonSerializer.Serialize(line, MonitorJson.Default.MonitorLine));
                else
                    AnsiConsole.MarkupLineInterpolated($"{line.Time:HH:mm:ss.ffffff}  [bold]{line.Action,-8}[/] {line.Device,-40} {line.Source}");
                if (count > 0 && ++lines >= count)
                    done.Set();
            }
        }
        eal.DeviceEvents.Register(null, e => Emit(new MonitorLine(DateTime.Now, e.Type.ToString().ToLowerInvariant(), $"{e.BusName}:{e.DeviceName}", SourceName(e.Source), null)));
        if (allSubsystems)
            eal.UeventReceived += u => Emit(new MonitorLine(DateTime.Now, u.RawAction, u.DevPath, "uevent", u.Subsystem));
        try
        {
            eal.Scan();
        }
        catch (IOException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[yellow]no PCI scan:[/] {e.Message}");
        }
        try
        {
            eal.StartDeviceEventMonitor();
        }
        catch (IOException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]cannot open the uevent socket:[/] {e.Message}");
            return 1;
        }
        Console.CancelKeyPress += (_, a) => { a.Cancel = true; done.Set(); };
        if (!json)
            AnsiConsole.MarkupLine($"[grey]monitoring {(allSubsystems ? "every kernel uevent" : "PCI device events")}; Ctrl+C stops[/]");
        done.Wait(timeoutSeconds > 0 ? TimeSpan.FromSeconds(timeoutSeconds) : Timeout.InfiniteTimeSpan);
        return 0;
    }

    private static string SourceName(DeviceEventSource s) => s switch
    {
        DeviceEventSource.VfioRequest => "vfio-req",
        _ => s.ToString().ToLowerInvariant(),
    };
}

/// <summary>One printed event.</summary>
internal sealed record MonitorLine(DateTime Time, string Action, string Device, string Source, string? Subsystem);

[JsonSerializable(typeof(MonitorLine))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class MonitorJson : JsonSerializerContext;
