namespace Hotplug.VmTests;

/// <summary>
/// Surprise removal with the agent on the library: the agent attaches edu through Hotplug and runs a data
/// path on BAR0; the host pulls the device (QMP device_del) and plugs it back, several times in one boot.
/// Expect: no crash, REMOVE, the data path reading the dead value (not the old device), detach, ADD,
/// re-attach reading 0x010000ed from the new device, and no leaked fd.
/// </summary>
[Collection("Vm")]
[Trait("Category", "Vm")]
public sealed class SurpriseRemovalTests
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(30);
    private const string Dev = QemuGuest.EduSysfs;
    private readonly VmFixture _fixture;
    private readonly ITestOutputHelper _output;

    public SurpriseRemovalTests(VmFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    [Theory]
    [InlineData("uio_pci_generic", 3)]
    [InlineData("igb_uio", 3)]
    [InlineData("vfio-pci", 3)]
    public async Task Device_del_and_device_add_cycles(string kernelDriver, int cycles)
    {
        using var guest = await QemuGuest.StartAsync(_fixture.Image, _output, new QemuGuestOptions { Name = "sr-" + kernelDriver });
        await guest.RunOkAsync($"echo {kernelDriver} > {Dev}/driver_override && echo {QemuGuest.EduBdf} > /sys/bus/pci/drivers_probe && readlink {Dev}/driver");

        int from = guest.Channel.Count;
        await guest.RunOkAsync($"{AgentBuild.GuestPath} hotplug {QemuGuest.EduBdf} {kernelDriver} {cycles} > $HP_CHAN 2>&1 &");
        bool Agent(JsonMessage m, string t) => m.Str("t") == t;
        void NoError(int since)
        {
            var bad = guest.Channel.Snapshot().Skip(since).FirstOrDefault(m => m.Str("t") is "error" or "exit" && !(m.Str("t") == "exit" && m.Json.GetProperty("rc").GetInt32() == 0));
            if (bad != null) throw guest.Fail($"the agent reported {bad.Raw}");
        }
        var attached = await guest.WaitForAsync(m => Agent(m, "attached") || Agent(m, "error"), StepTimeout, from, "the agent's first attach");
        NoError(from);
        Assert.Equal("0x010000ed", attached.Str("id"));
        int baseFds = attached.Json.GetProperty("fds").GetInt32();

        for (int cycle = 1; cycle <= cycles; cycle++)
        {
            int cFrom = guest.Channel.Count;
            int qFrom = guest.Qmp.Log.Count;
            double del = JsonLineLog.NowMs();
            await guest.Qmp.ExecuteAsync("device_del", new { id = "dut" });
            var remove = await guest.WaitForAsync(m => Agent(m, "event") && m.Str("type") == "Remove", StepTimeout, cFrom, $"REMOVE (cycle {cycle})");
            var stopped = await guest.WaitForAsync(m => Agent(m, "datapath-stopped"), StepTimeout, cFrom, $"the data path stop (cycle {cycle})");
            var detached = await guest.WaitForAsync(m => Agent(m, "detached"), StepTimeout, cFrom, $"the detach (cycle {cycle})");
            var deleted = await guest.Qmp.WaitForDeviceDeletedAsync("dut", StepTimeout, qFrom);
            NoError(cFrom);
            // The BAR was remapped away on REMOVE: it reads the dead value (all ones), not the device.
            Assert.Equal("0xffffffff", stopped.Str("final"));

            double add = JsonLineLog.NowMs();
            await guest.Qmp.ExecuteAsync("device_add", new Dictionary<string, string> { ["driver"] = "edu", ["id"] = "dut", ["bus"] = "rp1" });
            var addEvent = await guest.WaitForAsync(m => Agent(m, "event") && m.Str("type") == "Add", StepTimeout, cFrom, $"ADD (cycle {cycle})");
            var again = await guest.WaitForAsync(m => Agent(m, "reattached") || Agent(m, "error"), StepTimeout, cFrom, $"the re-attach (cycle {cycle})");
            NoError(cFrom);
            Assert.Equal("0x010000ed", again.Str("id"));
            Assert.Equal(baseFds, again.Json.GetProperty("fds").GetInt32());
            _output.WriteLine($"[Vm] {kernelDriver} cycle {cycle}: device_del -> REMOVE ({remove.Str("source")}) {remove.HostMs - del:F1} ms, " +
                              $"detached {detached.HostMs - del:F1} ms, DEVICE_DELETED {deleted.HostMs - del:F1} ms; " +
                              $"device_add -> ADD {addEvent.HostMs - add:F1} ms, re-attached {again.HostMs - add:F1} ms (host arrival); " +
                              $"data path {stopped.Json.GetProperty("reads")} reads, {stopped.Json.GetProperty("dead_reads")} dead");
        }
        var done = await guest.WaitForAsync(m => Agent(m, "exit"), StepTimeout, from, "the agent's exit");
        Assert.Equal(0, done.Json.GetProperty("rc").GetInt32());
    }
}
