using System.CommandLine;
using System.Text;
using Hotplug.Pci;

namespace Hotplug.Cli;

/// <summary>
/// <c>hotplug status</c>: the PCI functions grouped as <c>dpdk-devbind.py --status</c> groups them (user-space
/// driver, kernel driver, no driver). Read-only.
/// </summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var sysfs = SysfsOption("Read-only.");
        var cmd = new Command("status", "Show which driver each PCI function is bound to, grouped like dpdk-devbind --status (read-only).") { sysfs };
        cmd.SetAction(r => Run(r.GetValue(sysfs), r.InvocationConfiguration.Output, r.InvocationConfiguration.Error));
        return cmd;
    }

    /// <summary>The <c>--sysfs</c> option the driver verbs share.</summary>
    internal static Option<string?> SysfsOption(string note) => new("--sysfs")
    {
        Description = $"The PCI devices directory (default: ${PciBusOptions.SysfsRootVariable} or /sys/bus/pci/devices). {note}",
    };

    internal static string RootOf(string? sysfs) => string.IsNullOrEmpty(sysfs) ? new PciBusOptions().SysfsRoot : sysfs;

    /// <summary>Prints the status of the functions under <paramref name="sysfs"/>; 1 if the directory cannot be read.</summary>
    public static int Run(string? sysfs, TextWriter output, TextWriter error)
    {
        var control = new PciDriverControl(RootOf(sysfs));
        var warnings = new List<string>();
        List<PciDriverStatus> all;
        try
        {
            all = control.Status(warnings);
        }
        catch (SysfsFormatException e)
        {
            error.WriteLine($"error: {e.Message}");
            return 1;
        }
        foreach (string w in warnings)
            error.WriteLine($"warning: {w}");
        Group(output, "Devices using a user-space driver (vfio-pci, uio_pci_generic, igb_uio)", all, PciDriverGroup.UserSpace);
        output.WriteLine();
        Group(output, "Devices using a kernel driver", all, PciDriverGroup.Kernel);
        output.WriteLine();
        Group(output, "Devices using no driver", all, PciDriverGroup.None);
        return 0;
    }

    private static void Group(TextWriter output, string title, List<PciDriverStatus> all, PciDriverGroup group)
    {
        output.WriteLine(title);
        output.WriteLine(new string('=', title.Length));
        var members = all.Where(s => s.Group == group).ToList();
        if (members.Count == 0)
            output.WriteLine("<none>");
        foreach (var s in members)
            output.WriteLine(Line(s));
    }

    /// <summary>One function as dpdk-devbind prints it: <c>BDF 'ids class' if=IF drv=DRIVER unused=A,B *Active*</c>.</summary>
    internal static string Line(PciDriverStatus s)
    {
        var d = s.Info;
        var sb = new StringBuilder();
        sb.Append(d.Address).Append(" '").Append($"{d.VendorId:x4}:{d.DeviceId:x4}");
        if (d.ClassCode is { } c && ListCommand.ClassName(c) is { Length: > 0 } name)
            sb.Append(' ').Append(name);
        sb.Append('\'');
        if (s.Interfaces.Count > 0)
            sb.Append(" if=").Append(string.Join(',', s.Interfaces.Select(i => i.Name)));
        if (d.KernelDriverName is { } drv)
            sb.Append(" drv=").Append(drv);
        if (s.Unused.Count > 0)
            sb.Append(" unused=").Append(string.Join(',', s.Unused));
        if (d.NumaNode >= 0)
            sb.Append(" numa_node=").Append(d.NumaNode);
        if (s.Interfaces.Any(i => i.IsUp))
            sb.Append(" *Active*");
        return SysfsText(sb.ToString());
    }

    /// <summary>Control characters from sysfs are never printed as such.</summary>
    private static string SysfsText(string s) => new([.. s.Select(ch => char.IsControl(ch) ? '?' : ch)]);
}
