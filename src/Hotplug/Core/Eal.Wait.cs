using System.Diagnostics;
using System.Threading.Channels;

namespace Hotplug;

public sealed partial class Eal
{
    /// <summary>
    /// Waits until a device of <paramref name="busName"/> that <paramref name="match"/> accepts is <b>attached</b>
    /// (a driver took it: <see cref="DeviceState.Probed"/>) and has stayed attached, in the same life (the same
    /// <see cref="Device.Generation"/>), for <paramref name="settle"/>. A removal or a detach during the settle time
    /// restarts the wait. A device attached already counts (the settle time still applies). The Eal does not attach
    /// anything for the wait: something else must (auto-attach, a BOUND callback that calls <see cref="HotplugAdd"/>,
    /// <see cref="Probe"/>). Waiting for a device that is merely present or bound is done with
    /// <see cref="DeviceEventDispatcher.Register(string?, Action{DeviceEvent}, bool)"/> and <c>reportPresent: true</c>.
    /// </summary>
    /// <param name="busName">The bus, for example <c>pci</c>.</param>
    /// <param name="match">Which device; called under the Eal's lock: keep it quick and do not call the Eal from it.</param>
    /// <param name="settle">How long the device must stay attached; zero returns as soon as one is.</param>
    /// <param name="cancellationToken">Cancels the wait (an <see cref="OperationCanceledException"/>).</param>
    /// <returns>The attached device.</returns>
    /// <exception cref="BusNotFoundException">No such bus.</exception>
    /// <exception cref="ObjectDisposedException">The Eal is (or gets) disposed.</exception>
    public async Task<Device> WaitForDeviceAsync(string busName, Func<Device, bool> match, TimeSpan settle,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(busName);
        ArgumentNullException.ThrowIfNull(match);
        ArgumentOutOfRangeException.ThrowIfLessThan(settle, TimeSpan.Zero);
        ThrowIfDisposed();
        var bus = Buses.Get(busName);
        var wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        using var watch = DeviceEvents.Watch(() => wake.Writer.TryWrite(true));
        while (true)
        {
            var (device, generation) = FindAttached(bus, match);
            if (device is null)
            {
                await wake.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (await StaysAttached(device, generation, settle, wake.Reader, cancellationToken).ConfigureAwait(false))
                return device;
        }
    }

    /// <summary>
    /// Waits until the device <paramref name="deviceName"/> is attached and has stayed so for <paramref name="settle"/>;
    /// see <see cref="WaitForDeviceAsync(string, Func{Device, bool}, TimeSpan, CancellationToken)"/>.
    /// </summary>
    /// <exception cref="BusNotFoundException">No such bus.</exception>
    /// <exception cref="DeviceNotFoundException">The name is not valid on the bus.</exception>
    /// <exception cref="ObjectDisposedException">The Eal is (or gets) disposed.</exception>
    public Task<Device> WaitForDeviceAsync(string busName, string deviceName, TimeSpan settle, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deviceName);
        string name = Canonical(Buses.Get(busName), deviceName);
        return WaitForDeviceAsync(busName, d => d.Name == name, settle, cancellationToken);
    }

    private (Device? Device, long Generation) FindAttached(IBus bus, Func<Device, bool> match)
    {
        lock (_coordinator.Gate)
        {
            ThrowIfDisposed();
            var device = bus.Devices.FirstOrDefault(d => IsAttached(d) && match(d));
            return (device, device?.Generation ?? 0);
        }
    }

    private async Task<bool> StaysAttached(Device device, long generation, TimeSpan settle, ChannelReader<bool> wake, CancellationToken ct)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(settle.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (!StillAttached(device, generation))
                return false;
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero)
                return true;
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timer.CancelAfter(remaining);
            try
            {
                await wake.ReadAsync(timer.Token).ConfigureAwait(false); // something changed: look again
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // the settle time is over: the loop looks once more
            }
        }
    }

    private bool StillAttached(Device device, long generation)
    {
        lock (_coordinator.Gate)
        {
            ThrowIfDisposed();
            return IsAttached(device) && device.Generation == generation && device.Bus.FindDevice(device.Name) == device;
        }
    }

    private static bool IsAttached(Device d) => d.State == DeviceState.Probed && d.Driver is not null;

    /// <summary>An ADD (source Present) for every device the buses know now that is not gone; under the gate.</summary>
    private IReadOnlyList<DeviceEvent> PresentDevices(string? deviceName, long timestampNs)
    {
        var events = new List<DeviceEvent>();
        foreach (var bus in Buses)
        {
            foreach (var d in bus.Devices)
            {
                if ((deviceName is null || d.Name == deviceName) && d.State is DeviceState.Parsed or DeviceState.Probed)
                    events.Add(new DeviceEvent(bus.Name, d.Name, DeviceEventType.Add, DeviceEventSource.Present, timestampNs, d.Generation));
            }
        }
        return events;
    }
}
