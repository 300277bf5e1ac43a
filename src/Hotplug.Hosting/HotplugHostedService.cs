using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hotplug.Hosting;

/// <summary>
/// Starts and stops the <see cref="Eal"/> with the host. Start: enable hotplug handling, start the uevent monitor,
/// scan (in that order: a removal is handled from the first moment a device can be seen), then probe. Stop: every
/// <see cref="IHotplugDataPath"/> first (reverse registration order), then the Eal is disposed, which detaches every
/// device, stops the monitor and disables handling.
/// </summary>
public sealed partial class HotplugHostedService : IHostedService
{
    private readonly Eal _eal;
    private readonly HotplugOptions _options;
    private readonly IEnumerable<IHotplugDataPath> _dataPaths;
    private readonly ILogger _logger;

    /// <summary>Created by the container (see <see cref="HotplugServiceCollectionExtensions.AddHotplug"/>).</summary>
    public HotplugHostedService(Eal eal, IOptions<HotplugOptions> options, IEnumerable<IHotplugDataPath> dataPaths,
        ILogger<HotplugHostedService> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _eal = eal;
        _options = options.Value;
        _dataPaths = dataPaths;
        _logger = logger;
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.EnableHandling)
            _eal.EnableHotplugHandling();
        if (_options.StartMonitor)
            _eal.StartDeviceEventMonitor();
        var scan = _eal.Scan();
        int attached = _options.ProbeOnStart ? _eal.Probe() : 0;
        LogStarted(_logger, _options.EnableHandling, _options.StartMonitor, scan.Added.Count, attached);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var dataPath in _dataPaths.Reverse())
        {
            try
            {
                await dataPath.StopAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogDataPathFailed(_logger, e, dataPath.GetType().Name);
            }
        }
        _eal.Dispose();
        LogStopped(_logger);
    }

    [LoggerMessage(LogLevel.Information, "Hotplug started: handling {Handling}, monitor {Monitor}, {Devices} devices found, {Attached} attached")]
    private static partial void LogStarted(ILogger logger, bool handling, bool monitor, int devices, int attached);

    [LoggerMessage(LogLevel.Error, "Stopping the data path {DataPath} failed; detaching the devices anyway")]
    private static partial void LogDataPathFailed(ILogger logger, Exception e, string dataPath);

    [LoggerMessage(LogLevel.Information, "Hotplug stopped: data paths stopped, devices detached, Eal disposed")]
    private static partial void LogStopped(ILogger logger);
}
