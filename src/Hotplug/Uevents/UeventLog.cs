using Microsoft.Extensions.Logging;

namespace Hotplug.Uevents;

/// <summary>Log messages of the uevent socket (source-generated, allocation-free when disabled).</summary>
internal static partial class UeventLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Debug, Message = "Uevent socket fd {Fd} port {PortId}: receive buffer requested {Requested} bytes, obtained {Obtained} bytes ({Option})")]
    public static partial void Opened(ILogger logger, int fd, uint portId, int requested, int obtained, string option);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Uevent socket receive buffer is {Obtained} bytes, less than the {Requested} requested; bursts may overflow")]
    public static partial void SmallBuffer(ILogger logger, int requested, int obtained);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Debug, Message = "Dropped a uevent datagram not sent by the kernel: {Reason}")]
    public static partial void NotKernel(ILogger logger, string reason);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Dropped a malformed kernel uevent ({Length} bytes): {Reason}")]
    public static partial void Malformed(ILogger logger, int length, string reason);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Dropped a kernel uevent larger than the {BufferBytes}-byte receive buffer")]
    public static partial void Oversized(ILogger logger, int bufferBytes);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Uevent socket overflowed (ENOBUFS): the kernel dropped uevents; a rescan is needed")]
    public static partial void Overflow(ILogger logger);
}
