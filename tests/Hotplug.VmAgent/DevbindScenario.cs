using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>status</c>, <c>bind DRIVER BDF</c>, <c>unbind BDF</c>: the CLI's dpdk-devbind verbs, on the same library
/// class (<see cref="PciDriverControl"/>) and the guest's real /sys. One JSON line per function ("status") or
/// per action ("bind" / "unbind"); a refusal or failure is an "error" line and exit code 1.
/// </summary>
internal static class DevbindScenario
{
    private static PciDriverControl Control() => new(new PciBusOptions().SysfsRoot);

    public static int Status()
    {
        var warnings = new List<string>();
        foreach (var s in Control().Status(warnings))
            Report.Emit("status", w =>
            {
                w.WriteString("dev", s.Info.Address.ToString());
                w.WriteString("ids", $"{s.Info.VendorId:x4}:{s.Info.DeviceId:x4}");
                w.WriteString("group", s.Group.ToString());
                w.WriteString("drv", s.Info.KernelDriverName ?? "");
                w.WriteString("unused", string.Join(',', s.Unused));
                w.WriteString("if", string.Join(',', s.Interfaces.Select(i => i.Name + (i.IsUp ? "(up)" : ""))));
            });
        foreach (string warning in warnings)
            Report.Emit("warning", w => w.WriteString("msg", warning));
        return 0;
    }

    /// <summary>Binds <paramref name="bdf"/> to <paramref name="driver"/>, or unbinds it when null.</summary>
    public static int Change(string? driver, string bdf, bool force)
    {
        var control = Control();
        try
        {
            var address = control.Resolve(bdf);
            bool changed = driver is null ? control.Unbind(address, force) : control.Bind(address, driver, force);
            string? now = control.Get(address).Info.KernelDriverName;
            Report.Emit(driver is null ? "unbind" : "bind", w =>
            {
                w.WriteString("dev", address.ToString());
                w.WriteBoolean("changed", changed);
                w.WriteString("drv", now ?? "");
            });
            return 0;
        }
        catch (PciDriverControlException e)
        {
            Report.Error(e.Message);
            return 1;
        }
    }
}
