using Hotplug.Testing;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Core;

/// <summary>Waiting for a device, and subscriptions that report the devices present (issue 15, item 3).</summary>
public sealed class WaitForDeviceTests(ITestOutputHelper output)
{
    private const string A = SimulatedRig.Address;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10); // a bound on a wait, not a timing assertion

    [Fact]
    public async Task A_device_attached_already_is_returned_after_the_settle_time()
    {
        using var rig = new SimulatedRig(output);
        var started = DateTime.UtcNow;
        var d = await rig.Eal.WaitForDeviceAsync("pci", A, TimeSpan.FromMilliseconds(200)).WaitAsync(Bound);
        Assert.Same(rig.Pci, d);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(150));
    }

    [Fact]
    public async Task The_wait_completes_when_the_device_is_attached_later()
    {
        using var sim = SimulatedPciBus.Create();
        using var eal = PciEal.Create(sim.CreateOptions(), null, XunitLoggerFactory.Create(output));
        eal.Pci().RegisterDriver(new SimulatedDriver("edu"));
        var wait = eal.WaitForDeviceAsync("pci", d => d.Name.StartsWith("0000:01", StringComparison.Ordinal), TimeSpan.Zero);
        await Task.Delay(100);
        Assert.False(wait.IsCompleted);

        using var dev = sim.AddDevice(A, 0x1234, 0x11e8, [4096]);
        var attached = await Task.Run(() => eal.HotplugAdd("pci", A));

        Assert.Same(attached, await wait.WaitAsync(Bound));
    }

    [Fact]
    public async Task A_removal_during_the_settle_time_restarts_the_wait_and_the_next_life_is_returned()
    {
        using var rig = new SimulatedRig(output);
        long first = rig.Pci.Generation;
        var wait = rig.Eal.WaitForDeviceAsync("pci", A, TimeSpan.FromMilliseconds(400));
        rig.Device.Remove();
        var remove = rig.WaitRemove();
        Assert.True(rig.Eal.HotplugRemove(remove));
        await Task.Delay(700); // longer than the settle time: the removed life must not count
        Assert.False(wait.IsCompleted);

        using var again = rig.Sim.AddDevice(A, 0x1234, 0x11e8, [1UL << 20]);
        var second = rig.Eal.HotplugAdd("pci", A);

        var d = await wait.WaitAsync(Bound);
        Assert.Same(second, d);
        Assert.NotEqual(first, d.Generation);
        Assert.Equal(DeviceState.Probed, d.State);
    }

    [Fact]
    public async Task The_wait_is_cancelled_by_its_token_and_ended_by_dispose()
    {
        using var sim = SimulatedPciBus.Create();
        var eal = PciEal.Create(sim.CreateOptions());
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => eal.WaitForDeviceAsync("pci", A, TimeSpan.Zero, cts.Token));

        var pending = eal.WaitForDeviceAsync("pci", A, TimeSpan.Zero);
        eal.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(Bound));
        await Assert.ThrowsAsync<BusNotFoundException>(() => new Eal().WaitForDeviceAsync("nope", A, TimeSpan.Zero));
    }

    [Fact]
    public void A_callback_registered_with_report_present_gets_an_add_for_each_device_there_then_the_live_events()
    {
        using var rig = new SimulatedRig(output);
        using var other = rig.Sim.AddDevice("0000:02:00.0", 0x8086, 0x10d3, [4096], kernelDriver: null);
        rig.Eal.Scan();
        var events = new List<DeviceEvent>();
        using var sub = rig.Eal.DeviceEvents.Register(null, e => { lock (events) events.Add(e); }, reportPresent: true);
        rig.Device.Remove();
        rig.WaitRemove();
        rig.Settle();

        lock (events)
        {
            Assert.Equal(3, events.Count);
            var present = events.Take(2).ToDictionary(e => e.DeviceName);
            Assert.All(present.Values, e => Assert.Equal((DeviceEventType.Add, DeviceEventSource.Present), (e.Type, e.Source)));
            Assert.Equal(rig.Pci.Generation, present[A].Generation);
            Assert.Equal(0, present["0000:02:00.0"].Generation);
            Assert.Equal((DeviceEventType.Remove, A), (events[2].Type, events[2].DeviceName));
        }
    }

    [Fact]
    public async Task A_reader_with_report_present_starts_with_the_devices_there()
    {
        using var rig = new SimulatedRig(output);
        await using var reader = rig.Eal.DeviceEvents.ReadAllAsync(A, reportPresent: true).GetAsyncEnumerator();
        Assert.True(await reader.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal((DeviceEventType.Add, DeviceEventSource.Present, rig.Pci.Generation),
            (reader.Current.Type, reader.Current.Source, reader.Current.Generation));
        rig.Device.Remove();
        Assert.True(await reader.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(DeviceEventType.Remove, reader.Current.Type);
    }

    [Fact]
    public void An_event_published_before_a_report_present_registration_is_not_delivered_to_it_twice()
    {
        using var rig = new SimulatedRig(output);
        using var other = rig.Sim.AddDevice("0000:02:00.0", 0x8086, 0x10d3, [4096], kernelDriver: null);
        var events = new List<DeviceEvent>();
        using var gate = new ManualResetEventSlim();
        using var block = rig.Eal.DeviceEvents.Register(null, _ => gate.Wait(Bound)); // holds the event thread
        rig.Eal.Scan(); // ADD 0000:02:00.0 queued behind the blocked callback
        using var sub = rig.Eal.DeviceEvents.Register(null, e => { lock (events) events.Add(e); }, reportPresent: true);
        gate.Set();
        rig.Settle();
        lock (events)
            Assert.Single(events, e => e.DeviceName == "0000:02:00.0");
    }
}
