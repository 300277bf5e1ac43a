using Hotplug.Hosting;
using Hotplug.Pci;
using Microsoft.Extensions.Hosting;

namespace Hotplug.WorkerSample;

/// <summary>
/// The data path: waits for an edu device to be attached and settled, polls its BAR on a thread of its own until
/// the REMOVE of that life, detaches it, and waits for the next one. A <see cref="BackgroundService"/>, so the host
/// starts it, and an <see cref="IHotplugDataPath"/>, so Hotplug stops it before it detaches anything.
/// </summary>
public sealed class PollingDataPath(Eal eal, Timeline timeline) : BackgroundService, IHotplugDataPath
{
    private long _reads;
    private volatile bool _stop;

    /// <summary>BAR reads so far (all lives).</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var device = (PciDevice)await eal.WaitForDeviceAsync("pci", d => d.Driver is EduDriver, TimeSpan.FromMilliseconds(100),
                    stoppingToken).ConfigureAwait(false);
                var removed = new TaskCompletionSource<DeviceEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
                long generation = device.Generation;
                using (eal.DeviceEvents.Register(device.Name, e =>
                {
                    if (e.Type == DeviceEventType.Remove && e.Generation == generation)
                    {
                        _stop = true; // first thing on REMOVE: the loop stops touching the BAR
                        removed.TrySetResult(e);
                    }
                }))
                {
                    if (device.State != DeviceState.Probed || device.Generation != generation)
                        continue; // gone between the wait and the subscription: wait again
                    _stop = false;
                    var loop = new Thread(() => Poll(device)) { IsBackground = true, Name = "edu-data-path" };
                    loop.Start();
                    timeline.Add($"datapath: running {device.Name} generation {generation}");
                    try
                    {
                        var e = await removed.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
                        timeline.Add($"datapath: REMOVE seen ({e.Source})");
                    }
                    finally
                    {
                        _stop = true;
                        loop.Join();
                    }
                    eal.HotplugRemove(removed.Task.Result); // this life only
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            timeline.Add("datapath: stopped");
        }
    }

    private void Poll(PciDevice device)
    {
        var bar = device.Bar(0);
        while (!_stop)
        {
            try
            {
                _ = bar.Read32(0); // after a removal: 0xFFFFFFFF (dead memory), never a crash
            }
            catch (ObjectDisposedException)
            {
                return; // detached under us (should not happen: we detach only after joining)
            }
            Interlocked.Increment(ref _reads);
            Thread.Sleep(1);
        }
    }
}
