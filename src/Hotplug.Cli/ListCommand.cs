using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hotplug.Pci;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Hotplug.Cli;

/// <summary><c>hotplug list</c>: the PCI devices as a table (or JSON). Read-only: it never writes to sysfs.</summary>
internal static class ListCommand
{
    public static Command Create()
    {
        var sysfs = new Option<string?>("--sysfs")
        {
            Description = $"The PCI devices directory to read (default: ${PciBusOptions.SysfsRootVariable} or /sys/bus/pci/devices). Read-only.",
        };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var cmd = new Command("list", "List PCI devices (read-only).");
        cmd.Options.Add(sysfs);
        cmd.Options.Add(json);
        cmd.SetAction(parseResult =>
        {
            var config = parseResult.InvocationConfiguration;
            return Run(parseResult.GetValue(sysfs), parseResult.GetValue(json), config.Output, config.Error);
        });
        return cmd;
    }

    /// <summary>
    /// Lists the devices under <paramref name="sysfsRoot"/> (null: the default root) to <paramref name="output"/>;
    /// scan errors go to <paramref name="error"/> as warnings. Returns 0, or 1 when the root itself cannot be read.
    /// </summary>
    public static int Run(string? sysfsRoot, bool json, TextWriter output, TextWriter error)
    {
        string root = string.IsNullOrEmpty(sysfsRoot) ? new PciBusOptions().SysfsRoot : sysfsRoot;
        var warnings = new List<string>();
        List<PciDeviceInfo> devices;
        try
        {
            devices = new SysfsPciScanner(root).ScanAll(warnings);
        }
        catch (SysfsFormatException e)
        {
            error.WriteLine($"error: {e.Message}");
            return 1;
        }
        foreach (string w in warnings)
            error.WriteLine($"warning: {w}");
        if (json)
        {
            var doc = new ListJson(root, [.. devices.Select(ToJson)], warnings);
            output.WriteLine(JsonSerializer.Serialize(doc, ListJsonContext.Default.ListJson));
        }
        else
        {
            RenderTable(root, devices, output);
        }
        return 0;
    }

    private static void RenderTable(string root, List<PciDeviceInfo> devices, TextWriter output)
    {
        bool terminal = output == Console.Out && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (!terminal)
            console.Profile.Width = 160; // captured or piped: do not squeeze the table into 80 columns

        var table = new Table().Border(TableBorder.Rounded);
        foreach (string h in new[] { "Address", "Vendor:Device", "Rev", "Subsystem", "Class", "Driver", "NUMA", "BARs", "IOMMU" })
            table.AddColumn(new TableColumn(h).NoWrap());
        foreach (var d in devices)
        {
            table.AddRow(
                Cell(d.Address.ToString()),
                Cell($"{d.VendorId:x4}:{d.DeviceId:x4}"),
                Cell(Hex(d.Revision, 2) ?? "-"),
                Cell(d.SubsystemVendorId is null && d.SubsystemDeviceId is null ? "-"
                    : $"{Hex(d.SubsystemVendorId, 4) ?? "-"}:{Hex(d.SubsystemDeviceId, 4) ?? "-"}"),
                Cell(d.ClassCode is { } c ? $"{c:x6} {ClassName(c)}".TrimEnd() : "-"),
                Cell(DriverText(d)),
                Cell(d.NumaNode < 0 ? "-" : d.NumaNode.ToString(CultureInfo.InvariantCulture)),
                Cell(BarsText(d)),
                Cell(d.IommuGroup?.ToString(CultureInfo.InvariantCulture) ?? "-"));
        }
        table.Caption(Markup.Escape($"{devices.Count} PCI function(s) in {root}"));
        console.Write(table);
    }

    private static Text Cell(string s) => new(s); // Text, not markup: sysfs content is never interpreted

    /// <summary>Lower-case hex of at least <paramref name="digits"/> digits, or null for a value sysfs did not give.</summary>
    private static string? Hex(uint? value, int digits) =>
        value?.ToString("x" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string DriverText(PciDeviceInfo d) =>
        (d.KernelDriverName ?? "none") + (d.DriverOverride is { } o && o != d.KernelDriverName ? $" (override {o})" : "");

    private static string BarsText(PciDeviceInfo d)
    {
        var lines = d.Bars.Where(b => b.IsPresent).Select(b => $"{b.Index}: {HumanSize(b.Length)} {BarKind(b)}").ToList();
        return lines.Count == 0 ? "-" : string.Join('\n', lines);
    }

    private static string BarKind(BarInfo b) =>
        b.IsIo ? "io" : "mem" + (b.Is64Bit ? "64" : "32") + (b.IsPrefetchable ? " pref" : "");

    /// <summary>1 KiB = 1024 B; whole numbers when exact (BARs are powers of two), one decimal otherwise.</summary>
    internal static string HumanSize(ulong bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        int u = 0;
        ulong whole = bytes;
        while (whole >= 1024 && whole % 1024 == 0 && u < units.Length - 1)
        {
            whole /= 1024;
            u++;
        }
        if (whole < 1024 || u == units.Length - 1)
            return $"{whole} {units[u]}";
        double v = bytes;
        u = 0;
        while (v >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{v:0.#} {units[u]}");
    }

    /// <summary>The PCI base class name (PCI code and ID assignment spec), or empty.</summary>
    internal static string ClassName(uint classCode) => (classCode >> 16) switch
    {
        0x00 => "unclassified",
        0x01 => "storage",
        0x02 => "network",
        0x03 => "display",
        0x04 => "multimedia",
        0x05 => "memory",
        0x06 => "bridge",
        0x07 => "communication",
        0x08 => "system",
        0x09 => "input",
        0x0b => "processor",
        0x0c => "serial bus",
        0x0d => "wireless",
        0x10 => "encryption",
        0x11 => "signal processing",
        0x12 => "accelerator",
        0xff => "unassigned",
        _ => "",
    };

    private static DeviceJson ToJson(PciDeviceInfo d) => new(
        d.Address.ToString(),
        $"{d.VendorId:x4}", $"{d.DeviceId:x4}", Hex(d.SubsystemVendorId, 4), Hex(d.SubsystemDeviceId, 4),
        Hex(d.ClassCode, 6), Hex(d.Revision, 2),
        d.KernelDriverName, d.KernelDriver.ToString(), d.DriverOverride, d.NumaNode, d.IommuGroup, d.NumVfs, d.TotalVfs, d.UioName,
        [.. d.Bars.Where(b => b.IsPresent).Select(b => new BarJson(b.Index, b.IsIo ? "io" : "mem", b.Is64Bit, b.IsPrefetchable,
            $"0x{b.Start:x}", b.Length, HumanSize(b.Length)))]);
}

/// <summary>The JSON document of <c>hotplug list --json</c>.</summary>
internal sealed record ListJson(string Root, IReadOnlyList<DeviceJson> Devices, IReadOnlyList<string> Warnings);

/// <summary>
/// One PCI function in <c>hotplug list --json</c>; ids are lower-case hex without 0x. Subsystem ids, class and
/// revision are null when their sysfs file is absent (never an invented 0).
/// </summary>
internal sealed record DeviceJson(
    string Address, string Vendor, string Device, string? SubsystemVendor, string? SubsystemDevice, string? Class, string? Revision,
    string? Driver, string DriverKind, string? DriverOverride, int NumaNode, int? IommuGroup, int? NumVfs, int? TotalVfs, string? Uio,
    IReadOnlyList<BarJson> Bars);

/// <summary>One present BAR in <c>hotplug list --json</c>.</summary>
internal sealed record BarJson(int Index, string Kind, bool Is64Bit, bool Prefetchable, string Start, ulong Size, string SizeText);

/// <summary>Source-generated (reflection-free, AOT-friendly) serializer for the list output.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ListJson))]
internal sealed partial class ListJsonContext : JsonSerializerContext;
