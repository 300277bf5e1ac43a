using System.Text.Json;

namespace Hotplug.VmTests;

/// <summary>
/// The agent's <c>hotplug BDF DRIVER N</c> loop, driven from the host: binds the kernel driver, starts
/// the agent, and for each cycle runs a removal and an add (any trigger: QMP or guest sysfs) and checks
/// what the agent reports: REMOVE, the data path reading the dead value, detach letting go of every fd
/// and mapping of the device, ADD, re-attach reading 0x010000ed with no fd leaked.
/// </summary>
public sealed class AgentHotplugRun
{
    public static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(30);
    private readonly QemuGuest _guest;
    private readonly int _from;

    private AgentHotplugRun(QemuGuest guest, string driver, int from, JsonMessage attached)
    {
        _guest = guest;
        Driver = driver;
        _from = from;
        Attached = attached;
    }

    public string Driver { get; }

    public JsonMessage Attached { get; }

    public int BaseFds => Attached.Json.GetProperty("fds").GetInt32();

    public static async Task<AgentHotplugRun> StartAsync(QemuGuest guest, string driver, int cycles)
    {
        const string dev = QemuGuest.EduSysfs;
        await guest.RunOkAsync($"echo {driver} > {dev}/driver_override && echo {QemuGuest.EduBdf} > /sys/bus/pci/drivers_probe && readlink {dev}/driver");
        int from = guest.Channel.Count;
        await guest.RunOkAsync($"{AgentBuild.GuestPath} hotplug {QemuGuest.EduBdf} {driver} {cycles} > $HP_CHAN 2>&1 &");
        var attached = await guest.WaitForAsync(m => Is(m, "attached") || Is(m, "error"), StepTimeout, from, "the agent's first attach");
        var run = new AgentHotplugRun(guest, driver, from, attached);
        run.NoError(from);
        Assert.Equal("0x010000ed", attached.Str("id"));
        return run;
    }

    public static bool Is(JsonMessage m, string type) => m.Str("t") == type;

    /// <summary>Fails with the guest's logs if the agent reported an error or exited non-zero since <paramref name="since"/>.</summary>
    public void NoError(int since)
    {
        var bad = _guest.Channel.Snapshot().Skip(since).FirstOrDefault(m =>
            Is(m, "error") || (Is(m, "exit") && m.Json.GetProperty("rc").GetInt32() != 0));
        if (bad != null) throw _guest.Fail($"the agent reported {bad.Raw}");
    }

    /// <summary>What the agent reported for one removal.</summary>
    private const uint EduIdentification = 0x010000ed;

    public sealed record Removal(int From, JsonMessage Remove, JsonMessage Stopped, JsonMessage Detached);

    /// <summary>What the agent reported for one add.</summary>
    public sealed record Addition(JsonMessage Add, JsonMessage Reattached);

    /// <summary>Runs <paramref name="remove"/> and waits for REMOVE, the data path stop and the detach; checks them.</summary>
    public async Task<Removal> RemoveAsync(int cycle, Func<Task> remove)
    {
        int from = _guest.Channel.Count;
        await remove();
        var rm = await _guest.WaitForAsync(m => Is(m, "event") && m.Str("type") == "Remove", StepTimeout, from, $"REMOVE (cycle {cycle})");
        var stopped = await _guest.WaitForAsync(m => Is(m, "datapath-stopped"), StepTimeout, from, $"the data path stop (cycle {cycle})");
        var detached = await _guest.WaitForAsync(m => Is(m, "detached") || Is(m, "error"), StepTimeout, from, $"the detach (cycle {cycle})");
        NoError(from);
        Assert.Equal(QemuGuest.EduBdf, rm.Str("dev"));
        // A device that is gone had its BAR remapped before REMOVE: it reads the dead value (all ones). One vfio asks
        // back still answers until it is let go (quiesced and remapped right after the callbacks): the agent's read
        // between REMOVE and its detach sees the device or, once the release step ran, the dead value.
        if (rm.Str("source") == "VfioRequest")
            Assert.Contains(stopped.Str("final"), new[] { "0xffffffff", $"0x{EduIdentification:x8}" });
        else
            Assert.Equal("0xffffffff", stopped.Str("final"));
        // The detach let go of every fd and mapping of the device.
        Assert.True(detached.Json.GetProperty("dev_fds").GetInt32() == 0 && detached.Json.GetProperty("dev_maps").GetInt32() == 0,
            $"cycle {cycle}: the device is still held after the detach: {detached.Raw}");
        return new Removal(from, rm, stopped, detached);
    }

    /// <summary>Runs <paramref name="add"/> and waits for ADD and the re-attach; checks them.</summary>
    public async Task<Addition> AddAsync(int cycle, Removal removal, Func<Task> add)
    {
        await add();
        var addEvent = await _guest.WaitForAsync(m => Is(m, "event") && m.Str("type") == "Add", StepTimeout, removal.From, $"ADD (cycle {cycle})");
        var again = await _guest.WaitForAsync(m => Is(m, "reattached") || Is(m, "error"), StepTimeout, removal.From, $"the re-attach (cycle {cycle})");
        NoError(removal.From);
        Assert.Equal("0x010000ed", again.Str("id"));
        Assert.True(again.Json.GetProperty("fds").GetInt32() == BaseFds, $"cycle {cycle}: {again.Raw} vs first attach {Attached.Raw}");
        // Exactly one REMOVE and one ADD in the cycle, and at most one BOUND (the kernel's bind to uio / vfio).
        var events = _guest.Channel.Snapshot().Skip(removal.From).Where(m => Is(m, "event") && m.Str("dev") == QemuGuest.EduBdf && m.Index <= again.Index).ToList();
        int removes = events.Count(e => e.Str("type") == "Remove"), adds = events.Count(e => e.Str("type") == "Add"), bounds = events.Count(e => e.Str("type") == "Bound");
        Assert.True(removes == 1 && adds == 1 && bounds <= 1 && events.Count == removes + adds + bounds && events[0].Str("type") == "Remove",
            $"cycle {cycle}: expected REMOVE then ADD (and BOUND), got\n{string.Join('\n', events.Select(e => e.Raw))}");
        return new Addition(addEvent, again);
    }

    /// <summary>Waits for the agent's end (after its last cycle it detaches and reports "finished") and checks for leaks.</summary>
    public async Task<JsonMessage> FinishAsync(Removal first, int mapsSlack = 16)
    {
        var done = await _guest.WaitForAsync(m => Is(m, "finished") || Is(m, "error"), StepTimeout, _from, "the agent's final detach");
        var exit = await _guest.WaitForAsync(m => Is(m, "exit"), StepTimeout, _from, "the agent's exit");
        NoError(_from);
        Assert.Equal(0, exit.Json.GetProperty("rc").GetInt32());
        var d0 = first.Detached.Json;
        var d1 = done.Json;
        Assert.True(d1.GetProperty("dev_fds").GetInt32() == 0 && d1.GetProperty("dev_maps").GetInt32() == 0, $"the device is still held at the end: {done.Raw}");
        // Same state (detached) at the first cycle and at the end: same fds, about as many mappings.
        Assert.True(d1.GetProperty("fds").GetInt32() == d0.GetProperty("fds").GetInt32(), $"fd count changed: first detach {first.Detached.Raw}, end {done.Raw}");
        int grown = d1.GetProperty("maps").GetInt32() - d0.GetProperty("maps").GetInt32();
        Assert.True(grown <= mapsSlack, $"/proc/self/maps grew by {grown} lines (slack {mapsSlack}): first detach {first.Detached.Raw}, end {done.Raw}");
        return done;
    }

    public static double Ms(JsonMessage m, string field = "ms") => m.Json.GetProperty(field).GetDouble();

    public static int Int(JsonMessage m, string field) => m.Json.GetProperty(field).GetInt32();

    public static JsonElement Get(JsonMessage m, string field) => m.Json.GetProperty(field);
}
