using Microsoft.Extensions.Logging;

namespace Hotplug;

/// <summary>Source-generated log calls of the removal path (no boxing, no allocation when disabled).</summary>
internal static partial class RemovalPathLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "{Type} {Bus}:{Device} from {Source}")]
    public static partial void DeviceEvent(ILogger logger, DeviceEventType type, string bus, string device, DeviceEventSource source);

    [LoggerMessage(Level = LogLevel.Debug, Message = "SIGBUS at 0x{Address:x} belongs to a mapping released since (cookie {Cookie}); ignored")]
    public static partial void StaleFault(ILogger logger, ulong address, ulong cookie);

    [LoggerMessage(Level = LogLevel.Error, Message = "Bus {Bus} failed to handle the SIGBUS at 0x{Address:x}")]
    public static partial void FaultFailed(ILogger logger, string bus, ulong address);
}
