using System.Text.Json;

namespace Hotplug.VmTests;

/// <summary>
/// The NativeAOT guest agent runs in the guest on the public Hotplug API: scans the bus, probes the edu
/// device through uio_pci_generic, igb_uio and vfio-pci, and reads its BAR0 (one boot for all three).
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class AgentSmokeTests(VmFixture fixture, ITestOutputHelper output) : VmTest(fixture, output)
{
    private const string Dev = QemuGuest.EduSysfs;

    private static List<JsonElement> Lines(GuestCommandResult r) =>
        r.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith('{'))
            .Select(l => { using var d = JsonDocument.Parse(l); return d.RootElement.Clone(); })
            .ToList();

    private static JsonElement Single(GuestCommandResult r, string type)
    {
        var hits = Lines(r).Where(j => j.GetProperty("t").GetString() == type).ToList();
        Assert.True(hits.Count == 1, $"expected one \"{type}\" line in:\n{r}");
        return hits[0];
    }

    [Fact]
    public async Task Agent_runs_under_NativeAOT_and_reads_edu_through_uio_and_vfio()
    {
        using var guest = await StartGuestAsync("agent");

        var hello = await guest.RunOkAsync($"{AgentBuild.GuestPath} hello");
        Assert.True(Single(hello, "hello").GetProperty("aot").GetBoolean(), hello.ToString());

        var scan = await guest.RunOkAsync($"{AgentBuild.GuestPath} scan");
        Assert.Contains(Lines(scan), j => j.GetProperty("t").GetString() == "pci"
            && j.GetProperty("dev").GetString() == QemuGuest.EduBdf && j.GetProperty("ids").GetString() == "1234:11e8");

        foreach (var driver in new[] { "uio_pci_generic", "igb_uio", "vfio-pci" })
        {
            await guest.RunOkAsync($"echo {driver} > {Dev}/driver_override && echo {QemuGuest.EduBdf} > /sys/bus/pci/drivers_probe && readlink {Dev}/driver");
            var read = await guest.RunAsync($"{AgentBuild.GuestPath} edu-read {QemuGuest.EduBdf}");
            Output.WriteLine($"[Vm] {driver}: {read.Output.Trim()}");
            Assert.True(read.ExitCode == 0, $"{driver}: {read}");
            var edu = Single(read, "edu");
            Assert.Equal("0x010000ed", edu.GetProperty("id").GetString());
            Assert.Equal("0xedcba987", edu.GetProperty("inv").GetString());
            await guest.RunOkAsync($"echo {QemuGuest.EduBdf} > {Dev}/driver/unbind && echo > {Dev}/driver_override");
        }
    }
}
