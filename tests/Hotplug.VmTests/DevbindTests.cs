using System.Text.Json;

namespace Hotplug.VmTests;

/// <summary>
/// The CLI's dpdk-devbind verbs for real: the agent's <c>status</c> / <c>bind</c> / <c>unbind</c> run
/// <c>PciDriverControl</c> (the class behind <c>hotplug status/bind/unbind</c>) on the guest's /sys. edu starts
/// bound to nothing; it is bound to vfio-pci, moved to uio_pci_generic (unbound from vfio-pci on the way),
/// unbound, and status shows it in the user-space group, then in none; the kernel's own driver link agrees.
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class DevbindTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    private const string Dev = QemuGuest.EduSysfs;
    private const string Bdf = QemuGuest.EduBdf;
    private const string Agent = AgentBuild.GuestPath;

    private static List<JsonElement> Lines(GuestCommandResult r, string type) =>
        [.. r.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith('{'))
            .Select(l => { using var d = JsonDocument.Parse(l); return d.RootElement.Clone(); })
            .Where(j => j.GetProperty("t").GetString() == type)];

    private static string S(JsonElement j, string name) => j.GetProperty(name).GetString() ?? "";

    private async Task<JsonElement> EduStatusAsync(QemuGuest guest)
    {
        var r = await guest.RunOkAsync($"{Agent} status");
        Output.WriteLine($"[status] {r.Output.Trim()}");
        var edu = Lines(r, "status").Where(j => S(j, "dev") == Bdf).ToList();
        Assert.True(edu.Count == 1, $"edu not in status once:\n{r}");
        return edu[0];
    }

    private async Task<string> KernelDriverAsync(QemuGuest guest) =>
        (await guest.RunAsync($"[ -e {Dev}/driver ] && basename $(readlink {Dev}/driver) || echo none")).Output.Trim();

    [Fact]
    public async Task Bind_and_unbind_edu_through_vfio_pci_and_uio_pci_generic_as_dpdk_devbind_does()
    {
        using var guest = await StartGuestAsync("devbind");

        var start = await EduStatusAsync(guest);
        Assert.Equal("None", S(start, "group"));
        Assert.Equal("1234:11e8", S(start, "ids"));
        Assert.Contains("vfio-pci", S(start, "unused").Split(','));
        Assert.Contains("uio_pci_generic", S(start, "unused").Split(','));
        var all = Lines(await guest.RunOkAsync($"{Agent} status"), "status");
        Assert.Contains(all, j => S(j, "group") == "Kernel" && S(j, "drv") == "virtio-pci"); // the control channel's device

        foreach (string driver in new[] { "vfio-pci", "uio_pci_generic" })
        {
            var bind = await guest.RunAsync($"{Agent} bind {driver} {Bdf}");
            Output.WriteLine($"[bind {driver}] {bind.Output.Trim()}");
            Assert.True(bind.ExitCode == 0, bind.ToString());
            var line = Assert.Single(Lines(bind, "bind"));
            Assert.True(line.GetProperty("changed").GetBoolean());
            Assert.Equal(driver, S(line, "drv"));
            Assert.Equal(driver, await KernelDriverAsync(guest));
            Assert.Equal(driver, (await guest.RunOkAsync($"cat {Dev}/driver_override")).Output.Trim());
            var st = await EduStatusAsync(guest);
            Assert.Equal("UserSpace", S(st, "group"));
            Assert.Equal(driver, S(st, "drv"));
            Assert.DoesNotContain(driver, S(st, "unused").Split(','));
        }
        // The same bind again changes nothing.
        var again = Assert.Single(Lines(await guest.RunOkAsync($"{Agent} bind uio_pci_generic {Bdf}"), "bind"));
        Assert.False(again.GetProperty("changed").GetBoolean());

        var unbind = await guest.RunAsync($"{Agent} unbind {Bdf}");
        Output.WriteLine($"[unbind] {unbind.Output.Trim()}");
        Assert.True(unbind.ExitCode == 0, unbind.ToString());
        Assert.Equal("", S(Assert.Single(Lines(unbind, "unbind")), "drv"));
        Assert.Equal("none", await KernelDriverAsync(guest));
        Assert.Equal("(null)", (await guest.RunOkAsync($"cat {Dev}/driver_override")).Output.Trim());
        Assert.Equal("None", S(await EduStatusAsync(guest), "group"));

        // A driver that is not loaded: a clear error, nothing bound.
        var missing = await guest.RunAsync($"{Agent} bind no_such_driver {Bdf}");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("driver 'no_such_driver' is not loaded", S(Assert.Single(Lines(missing, "error")), "msg"));
        Assert.Equal("none", await KernelDriverAsync(guest));
    }
}
