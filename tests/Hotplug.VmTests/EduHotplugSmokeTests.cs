using System.Diagnostics;

namespace Hotplug.VmTests;

/// <summary>
/// Proves the image and the harness without the library: bind edu to uio_pci_generic in the guest, read
/// its BAR0 through sysfs, unplug it with QMP device_del, see the guest remove it, plug it back.
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class EduHotplugSmokeTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(20);
    private const string Dev = QemuGuest.EduSysfs;

    private static string Bind(string driver) =>
        $"echo {driver} > {Dev}/driver_override && echo {QemuGuest.EduBdf} > /sys/bus/pci/drivers_probe && readlink {Dev}/driver";

    private static bool IsUevent(JsonMessage m, string action, string subsystem) =>
        m.Str("t") == "uevent" && m.Str("action") == action && m.Str("subsystem") == subsystem
        && (m.Str("devpath") ?? "").EndsWith("/" + QemuGuest.EduBdf, StringComparison.Ordinal);

    [Fact]
    public async Task Edu_uio_pci_generic_bar_read_then_device_del_and_device_add()
    {
        var total = Stopwatch.StartNew();
        using var guest = await StartGuestAsync("smoke");

        // The edu device as QEMU presents it.
        var ids = await guest.RunOkAsync($"cat {Dev}/vendor {Dev}/device");
        Assert.Equal("0x1234\n0x11e8\n", ids.Output);

        // Bind to uio_pci_generic and read BAR0 register 0 (identification) through sysfs resource0.
        var bind = await guest.RunOkAsync(Bind("uio_pci_generic"));
        Assert.EndsWith("/uio_pci_generic", bind.Output.Trim());
        var id = await guest.RunOkAsync($"hpguest bar-read {Dev}/resource0 0");
        Assert.Equal("0x010000ed", id.Output.Trim());
        // Register 4 returns the bitwise inverse of what was written.
        var inv = await guest.RunOkAsync($"hpguest bar-write {Dev}/resource0 4 0x12345678 && hpguest bar-read {Dev}/resource0 4");
        Assert.Equal("0xedcba987", inv.Output.Trim());
        await guest.RunOkAsync("test -e /dev/uio0");

        // Surprise removal from the host. A uevent listener in the guest reports every uevent on the channel.
        int from = guest.Channel.Count;
        await guest.RunOkAsync("hpguest uevents 60000 remove pci /" + QemuGuest.EduBdf + " > $HP_CHAN 2>&1 &");
        await guest.WaitForAsync(m => m.Str("t") == "uevents-ready", EventTimeout, from, "the uevent listener");
        int qmpFrom = guest.Qmp.Log.Count;
        double delMs = JsonLineLog.NowMs();
        await guest.Qmp.ExecuteAsync("device_del", new { id = "dut" });
        var deleted = await guest.Qmp.WaitForDeviceDeletedAsync("dut", EventTimeout, qmpFrom);
        var uioRemove = await guest.WaitForAsync(m => m.Str("t") == "uevent" && m.Str("action") == "remove" && m.Str("subsystem") == "uio", EventTimeout, from, "the uio remove uevent");
        var pciRemove = await guest.WaitForAsync(m => IsUevent(m, "remove", "pci"), EventTimeout, from, "the pci remove uevent");
        var gone = await guest.RunAsync($"test -e {Dev}");
        Assert.NotEqual(0, gone.ExitCode);
        await guest.RunOkAsync("test ! -e /dev/uio0");
        Output.WriteLine($"[Vm] device_del -> uio remove uevent {uioRemove.HostMs - delMs:F1} ms, pci remove uevent {pciRemove.HostMs - delMs:F1} ms, DEVICE_DELETED {deleted.HostMs - delMs:F1} ms (host arrival times)");

        // Plug it back (same id: allowed only after DEVICE_DELETED) and find the new device, without a driver.
        from = guest.Channel.Count;
        await guest.RunOkAsync("hpguest uevents 60000 add pci /" + QemuGuest.EduBdf + " > $HP_CHAN 2>&1 &");
        await guest.WaitForAsync(m => m.Str("t") == "uevents-ready", EventTimeout, from, "the uevent listener");
        double addMs = JsonLineLog.NowMs();
        await guest.Qmp.ExecuteAsync("device_add", new Dictionary<string, string> { ["driver"] = "edu", ["id"] = "dut", ["bus"] = "rp1" });
        var pciAdd = await guest.WaitForAsync(m => IsUevent(m, "add", "pci"), EventTimeout, from, "the pci add uevent");
        Output.WriteLine($"[Vm] device_add -> pci add uevent {pciAdd.HostMs - addMs:F1} ms");
        var again = await guest.RunOkAsync($"cat {Dev}/vendor {Dev}/device");
        Assert.Equal("0x1234\n0x11e8\n", again.Output);
        var driver = await guest.RunAsync($"readlink {Dev}/driver");
        Assert.NotEqual(0, driver.ExitCode); // driver_override belonged to the old pci_dev

        // The new device works: bind again and read the identification register.
        await guest.RunOkAsync(Bind("uio_pci_generic"));
        var id2 = await guest.RunOkAsync($"hpguest bar-read {Dev}/resource0 0");
        Assert.Equal("0x010000ed", id2.Output.Trim());

        Output.WriteLine($"[Vm] boot {guest.BootTime.TotalSeconds:F2} s, scenario total {total.Elapsed.TotalSeconds:F2} s (kernel {guest.KernelVersion}, accel {QemuGuest.Accel})");
    }
}
