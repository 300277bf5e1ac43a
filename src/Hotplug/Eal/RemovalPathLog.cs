using Hotplug.Pci;
using Microsoft.Extensions.Logging;

namespace Hotplug.Eal;

/// <summary>
/// The log lines of the removal path, generated at compile time: no template parsing, boxing or JIT
/// of the generic logging helpers when the first fault happens.
/// </summary>
internal static partial class RemovalPathLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "{Type} {Bus}:{Device} from {Source}")]
    public static partial void DeviceEvent(ILogger logger, DeviceEventType type, string bus, string device, DeviceEventSource source);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Device} is gone: its BARs now read {Fill}")]
    public static partial void DeviceGone(ILogger logger, string device, BarFill fill);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SIGBUS at 0x{Address:x} hit a registered range no device claims (detached meanwhile?)")]
    public static partial void UnclaimedFault(ILogger logger, ulong address);

    [LoggerMessage(Level = LogLevel.Error, Message = "Bus {Bus} failed to handle the SIGBUS at 0x{Address:x}")]
    public static partial void FaultFailed(ILogger logger, string bus, ulong address);
}
