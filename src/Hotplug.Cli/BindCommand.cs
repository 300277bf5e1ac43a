using System.CommandLine;
using Hotplug.Pci;

namespace Hotplug.Cli;

/// <summary>
/// <c>hotplug bind DRIVER DEVICE...</c> and <c>hotplug unbind DEVICE...</c>: dpdk-devbind's <c>--bind</c> and
/// <c>--unbind</c>, through <see cref="PciDriverControl"/> (driver_override + drivers_probe, driver/unbind).
/// Every device is tried; the exit code is 1 if any failed.
/// </summary>
internal static class BindCommand
{
    public static Command CreateBind()
    {
        var driver = new Argument<string>("driver") { Description = "The driver to bind to: vfio-pci, uio_pci_generic, igb_uio, or a kernel driver." };
        var devices = Devices();
        var force = Force();
        var sysfs = StatusCommand.SysfsOption("Writes go into the tree under it.");
        var cmd = new Command("bind", "Bind PCI functions to a driver (like dpdk-devbind --bind); needs root on a real system.") { driver, devices, force, sysfs };
        cmd.SetAction(r => Run(StatusCommand.RootOf(r.GetValue(sysfs)), r.GetValue(devices)!, r.GetValue(driver), r.GetValue(force),
            r.InvocationConfiguration.Output, r.InvocationConfiguration.Error));
        return cmd;
    }

    public static Command CreateUnbind()
    {
        var devices = Devices();
        var force = Force();
        var sysfs = StatusCommand.SysfsOption("Writes go into the tree under it.");
        var cmd = new Command("unbind", "Unbind PCI functions from their driver and clear driver_override (like dpdk-devbind --unbind).") { devices, force, sysfs };
        cmd.SetAction(r => Run(StatusCommand.RootOf(r.GetValue(sysfs)), r.GetValue(devices)!, null, r.GetValue(force),
            r.InvocationConfiguration.Output, r.InvocationConfiguration.Error));
        return cmd;
    }

    private static Argument<string[]> Devices() => new("devices")
    {
        Description = "PCI addresses (0000:01:00.0 or 01:00.0) or network interface names.",
        Arity = ArgumentArity.OneOrMore,
    };

    private static Option<bool> Force() => new("--force")
    {
        Description = "Take a function even though its network interface is up (the kernel loses it).",
    };

    /// <summary>Binds every device to <paramref name="driver"/>, or unbinds it when null. 0 if all succeeded.</summary>
    public static int Run(string root, string[] devices, string? driver, bool force, TextWriter output, TextWriter error)
    {
        var control = new PciDriverControl(root);
        int failed = 0;
        foreach (string name in devices)
        {
            try
            {
                var address = control.Resolve(name);
                if (driver is null)
                    output.WriteLine(control.Unbind(address, force) ? $"{address}: unbound" : $"{address}: not bound to any driver");
                else
                    output.WriteLine(control.Bind(address, driver, force) ? $"{address}: bound to {driver}" : $"{address}: already bound to {driver}");
            }
            catch (PciDriverControlException e)
            {
                error.WriteLine($"error: {e.Message}{(e.InterfaceUp ? " (--force)" : "")}");
                failed++;
            }
        }
        return failed == 0 ? 0 : 1;
    }
}
