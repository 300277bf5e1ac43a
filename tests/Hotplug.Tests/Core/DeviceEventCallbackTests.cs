using Hotplug;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Core;

/// <summary>The callback rules: order, thread, failures, unregistering and detaching from inside.</summary>
public class DeviceEventCallbackTests(ITestOutputHelper output)
{
    [Fact]
    public void Callbacks_run_on_the_event_thread_in_registration_order_and_a_throwing_one_does_not_stop_the_others()
    {
        using var rig = new SimulatedRig(output);
        var calls = new List<string>();
        rig.Eal.DeviceEvents.Register(SimulatedRig.Address, e => calls.Add("first:" + Thread.CurrentThread.Name));
        rig.Eal.DeviceEvents.Register(null, e => throw new InvalidOperationException("app bug"));
        rig.Eal.DeviceEvents.Register(SimulatedRig.Address, e => calls.Add("third"));

        rig.Device.Remove();
        rig.WaitRemove();
        rig.Settle();

        Assert.Equal(["first:hotplug-events", "third"], calls);
        Assert.Equal(1, rig.Eal.DeviceEvents.CallbackFailures);
    }

    [Fact]
    public void Registering_the_same_callback_twice_for_the_same_device_is_an_error()
    {
        using var rig = new SimulatedRig(output);
        Action<DeviceEvent> cb = _ => { };
        using var r1 = rig.Eal.DeviceEvents.Register("0000:05:00.0", cb);
        Assert.Throws<InvalidOperationException>(() => rig.Eal.DeviceEvents.Register("0000:05:00.0", cb));
        using var r2 = rig.Eal.DeviceEvents.Register(null, cb); // for all devices: a different registration
    }

    [Fact]
    public void A_callback_for_another_device_is_not_called()
    {
        using var rig = new SimulatedRig(output);
        int other = 0;
        rig.Eal.DeviceEvents.Register("0000:09:00.0", _ => other++);
        rig.Device.Remove();
        rig.WaitRemove();
        rig.Settle();
        Assert.Equal(0, other);
    }

    [Fact]
    public void A_callback_can_unregister_itself_and_detach_its_device_from_inside_its_remove()
    {
        using var rig = new SimulatedRig(output);
        IDisposable? self = null;
        int calls = 0;
        Exception? failure = null;
        self = rig.Eal.DeviceEvents.Register(SimulatedRig.Address, e =>
        {
            calls++;
            try
            {
                self!.Dispose();
                rig.Eal.HotplugRemove("pci", e.DeviceName);
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });

        rig.Device.Remove();
        rig.WaitRemove();
        rig.Settle();

        Assert.Null(failure);
        Assert.Equal(1, calls);
        Assert.Equal(1, rig.Driver.RemoveCalls);
        Assert.Null(rig.Pci.Driver);
        Assert.Empty(rig.Pci.Bars);
        Assert.Throws<DeviceNotFoundException>(() => rig.Eal.HotplugRemove("pci", SimulatedRig.Address));
    }

    [Fact]
    public async Task An_async_reader_gets_the_remove()
    {
        using var rig = new SimulatedRig(output);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var reader = rig.Eal.DeviceEvents.ReadAllAsync(SimulatedRig.Address, cts.Token);
        rig.Device.Remove();
        await foreach (var e in reader)
        {
            Assert.Equal(DeviceEventType.Remove, e.Type);
            Assert.Equal(SimulatedRig.Address, e.DeviceName);
            break;
        }
    }

    [Fact]
    public void The_event_is_logged_after_the_callbacks_never_before_them()
    {
        var lines = new List<string>();
        using var rig = new SimulatedRig(new RecordingOutput(output, lines));
        rig.Eal.DeviceEvents.Register(SimulatedRig.Address, e =>
        {
            if (e.Type == DeviceEventType.Remove)
                lock (lines) lines.Add("callback");
        });

        rig.Device.Remove();
        rig.WaitRemove();
        rig.Settle();

        List<string> seen;
        lock (lines) seen = [.. lines];
        int callback = seen.IndexOf("callback");
        int logged = seen.FindIndex(l => l.Contains($"Remove pci:{SimulatedRig.Address} from", StringComparison.Ordinal));
        Assert.True(callback >= 0, "the REMOVE callback did not run");
        Assert.True(logged >= 0, "the REMOVE was not logged: " + string.Join(" | ", seen));
        Assert.True(callback < logged, "the REMOVE was logged before the app's callback: " + string.Join(" | ", seen));
        int gone = seen.FindIndex(l => l.Contains($"{SimulatedRig.Address} is gone", StringComparison.Ordinal));
        Assert.True(gone > callback, "the bus logged the removal before the app's callback: " + string.Join(" | ", seen));
    }

    /// <summary>The test's output, also kept in order in a list (the log lines and the callbacks' marks interleave there).</summary>
    private sealed class RecordingOutput(ITestOutputHelper inner, List<string> lines) : ITestOutputHelper
    {
        public void WriteLine(string message)
        {
            lock (lines) lines.Add(message);
            inner.WriteLine(message);
        }

        public void WriteLine(string format, params object[] args) => WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args));
    }
}
