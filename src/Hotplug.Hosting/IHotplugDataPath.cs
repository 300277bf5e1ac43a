namespace Hotplug.Hosting;

/// <summary>
/// A data path the app runs on a device (a polling loop over its BARs, a DMA ring). Register it with
/// <see cref="HotplugServiceCollectionExtensions.AddHotplugDataPath{T}"/>: when the host stops, every data path is
/// stopped (in reverse registration order) <b>before</b> any device is detached or the <see cref="Eal"/> is disposed,
/// so no thread is still reading a device while it goes. A <c>BackgroundService</c> fits as it is: its
/// <c>StopAsync</c> is this method.
/// </summary>
public interface IHotplugDataPath
{
    /// <summary>Stops using every device: when the returned task completes, no thread touches their BARs or DMA memory.</summary>
    /// <param name="cancellationToken">Signalled when the host's shutdown timeout is up.</param>
    Task StopAsync(CancellationToken cancellationToken);
}
