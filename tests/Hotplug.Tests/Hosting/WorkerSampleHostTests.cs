using Hotplug.Testing;
using Hotplug.Tests.Support;
using Hotplug.WorkerSample;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Hosting;

/// <summary>The worker sample in a real Host against a simulated bus (issue 15, item 2).</summary>
public sealed class WorkerSampleHostTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10); // bounds on waits, not timing assertions

    [Fact]
    public async Task The_sample_attaches_runs_survives_a_surprise_removal_and_stops_its_data_path_before_detaching()
    {
        using var sim = SimulatedPciBus.Create();
        var builder = WorkerSample.WorkerSample.CreateBuilder([], null, sim);
        builder.Logging.ClearProviders().AddProvider(new TestLoggerProvider(output));
        using var host = builder.Build();
        var timeline = host.Services.GetRequiredService<Timeline>();
        var eal = host.Services.GetRequiredService<Eal>();
        var dataPath = host.Services.GetRequiredService<PollingDataPath>();
        var removes = new List<DeviceEvent>();
        using var removeSeen = new SemaphoreSlim(0);

        await host.StartAsync();
        Assert.True(eal.HotplugHandlingEnabled);
        Assert.True(eal.DeviceEventMonitorRunning);
        using var sub = eal.DeviceEvents.Register(null, e =>
        {
            if (e.Type != DeviceEventType.Remove)
                return;
            lock (removes)
                removes.Add(e);
            removeSeen.Release();
        });

        // Started: attached by the probe on start, the data path running on it.
        Assert.True(await timeline.WaitForAsync("datapath: running"), string.Join("\n", timeline.Entries));
        var device = Assert.Single(eal.Pci().Devices);
        Assert.Equal(DeviceState.Probed, device.State);
        Assert.True(await Until(() => dataPath.Reads > 0), "the data path never read the BAR");

        // A surprise removal: one REMOVE, the data path stops, the device is detached.
        sim.Devices.Single().Remove();
        Assert.True(await removeSeen.WaitAsync(Bound), "no REMOVE");
        Assert.True(await timeline.WaitForAsync("driver: detached"), string.Join("\n", timeline.Entries));
        Assert.Contains(timeline.Entries, e => e.StartsWith("datapath: REMOVE seen", StringComparison.Ordinal));
        // The driver logs "detached" from inside its Remove; the device drops its driver when that returns.
        Assert.True(await Until(() => device.Driver is null), "the device kept its driver after the detach");

        // Back again: found by a rescan, attached by a probe; the data path waits for it and runs on the new life.
        sim.Devices.Single().Dispose();
        var again = sim.AddDevice(WorkerSample.WorkerSample.SimulatedAddress, EduDriver.Vendor, EduDriver.DeviceId, [1UL << 20]);
        again.WriteRegister32(0, 0, EduDriver.IdentificationValue);
        eal.Scan();
        Assert.Equal(1, eal.Probe());
        Assert.True(await timeline.WaitForAsync("datapath: running", 2), string.Join("\n", timeline.Entries));

        await host.StopAsync().WaitAsync(Bound);

        var entries = timeline.Entries;
        output.WriteLine(string.Join("\n", entries));
        lock (removes)
            Assert.Single(removes);
        int stopped = IndexOf(entries, "datapath: stopped");
        int lastDetach = entries.ToList().FindLastIndex(e => e.StartsWith("driver: detached", StringComparison.Ordinal));
        Assert.True(stopped >= 0 && lastDetach > stopped, "the data path must stop before the device is detached:\n" + string.Join("\n", entries));
        Assert.Equal(2, entries.Count(e => e.StartsWith("driver: detached", StringComparison.Ordinal)));
        Assert.False(eal.HotplugHandlingEnabled);
        Assert.Throws<ObjectDisposedException>(eal.Scan);
    }

    private static int IndexOf(IReadOnlyList<string> entries, string prefix) =>
        entries.ToList().FindIndex(e => e.StartsWith(prefix, StringComparison.Ordinal));

    private static async Task<bool> Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(10);
        }
        return true;
    }
}
