using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>Source-generated log calls of the PCI bus and its attachments.</summary>
internal static partial class PciLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Device} is gone: its BARs now read {Fill}")]
    public static partial void DeviceGone(this ILogger logger, string device, BarFill fill);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot watch {Node} for removal ({Error}); uevents and SIGBUS still report it")]
    public static partial void LogUioWatchFailed(this ILogger logger, string node, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Device}: this kernel offers no vfio request interrupt")]
    public static partial void LogNoVfioRequest(this ILogger logger, string device);
}
