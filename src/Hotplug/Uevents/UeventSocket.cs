using Hotplug.Interop;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotplug.Uevents;

/// <summary>
/// A non-blocking <c>NETLINK_KOBJECT_UEVENT</c> socket bound to the kernel's uevent group (group 1 only,
/// never udev's rebroadcasts) that accepts only datagrams the kernel itself sent.
/// </summary>
/// <remarks>
/// <para>Register <see cref="Fd"/> with epoll (or call <see cref="WaitReadable"/>) and call
/// <see cref="ReceiveAll(List{Uevent})"/> on every wake-up: it drains the socket until <c>EAGAIN</c>.</para>
/// <para>A datagram is accepted only if its source port id is 0 and its <c>SCM_CREDENTIALS</c> say uid 0;
/// anything else (user-space senders, datagrams without credentials) is counted in
/// <see cref="UeventStats.DroppedNotKernel"/> and logged at Debug. When the kernel drops uevents because the
/// buffer is full, <c>recvmsg</c> fails once with <c>ENOBUFS</c>: that is reported as
/// <see cref="UeventReceiveResult.Overflowed"/> (the caller must rescan), logged as a warning, and reading
/// continues; the socket stays usable.</para>
/// <para>Not thread-safe: use one reading thread. <see cref="Dispose"/> may be called from any thread.</para>
/// </remarks>
public sealed class UeventSocket : IDisposable
{
    /// <summary>The receive buffer asked for by default: 1 MiB, enough for bursts of thousands of uevents.</summary>
    public const int DefaultReceiveBufferBytes = 1 << 20;

    /// <summary>Room for the <c>SCM_CREDENTIALS</c> control message (and anything else) per datagram.</summary>
    private const int ControlBufferBytes = 128;

    private readonly SafeFdHandle _handle;
    private readonly ILogger _logger;
    private readonly byte[] _data = new byte[UeventParser.MaxMessageBytes];
    private readonly byte[] _control = new byte[ControlBufferBytes];
    private UeventStats _statistics;

    private UeventSocket(SafeFdHandle handle, uint portId, int requested, int obtained, string option, ILogger logger)
    {
        _handle = handle;
        _logger = logger;
        PortId = portId;
        RequestedBufferBytes = requested;
        ReceiveBufferBytes = obtained;
        ReceiveBufferOption = option;
    }

    /// <summary>
    /// Opens and binds the socket. The receive buffer is set with <c>SO_RCVBUFFORCE</c> (falling back to
    /// <c>SO_RCVBUF</c>, capped by <c>net.core.rmem_max</c>, without <c>CAP_NET_ADMIN</c>); what the kernel
    /// granted is in <see cref="ReceiveBufferBytes"/>.
    /// </summary>
    /// <param name="requestedBufferBytes">The receive buffer to ask for. Small values (for example 1) give the
    /// kernel's minimum, which tests use to provoke an overflow.</param>
    /// <param name="logger">Where to log drops and overflows; none if <see langword="null"/>.</param>
    /// <returns>The open socket.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="requestedBufferBytes"/> is not positive.</exception>
    /// <exception cref="IOException">A system call failed (for example no permission to bind the group).</exception>
    public static UeventSocket Open(int requestedBufferBytes = DefaultReceiveBufferBytes, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(requestedBufferBytes);
        logger ??= NullLogger.Instance;
        var handle = UeventNetlink.Open(requestedBufferBytes, out int obtained, out string option, out uint portId);
        UeventLog.Opened(logger, handle.Fd, portId, requestedBufferBytes, obtained, option);
        if (obtained < requestedBufferBytes)
            UeventLog.SmallBuffer(logger, requestedBufferBytes, obtained);
        return new UeventSocket(handle, portId, requestedBufferBytes, obtained, option, logger);
    }

    /// <summary>The socket's file descriptor, for epoll/poll registration. Do not close it.</summary>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    public int Fd
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.Fd;
        }
    }

    /// <summary>The netlink port id the kernel assigned to this socket.</summary>
    public uint PortId { get; }

    /// <summary>The receive buffer size passed to <see cref="Open"/>.</summary>
    public int RequestedBufferBytes { get; }

    /// <summary>The receive buffer size the kernel reports (<c>getsockopt(SO_RCVBUF)</c>, which counts overhead, so typically twice the request).</summary>
    public int ReceiveBufferBytes { get; }

    /// <summary>Which option set the buffer size: <c>SO_RCVBUFFORCE</c> or <c>SO_RCVBUF</c>.</summary>
    public string ReceiveBufferOption { get; }

    /// <summary>Counters since the socket was opened.</summary>
    public UeventStats Statistics => _statistics;

    /// <summary>Waits until a datagram (or an overflow error) is pending, using <c>poll</c>.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever.</param>
    /// <returns><see langword="true"/> if <see cref="ReceiveAll(List{Uevent})"/> has something to read.</returns>
    public bool WaitReadable(TimeSpan timeout)
    {
        int ms = timeout == Timeout.InfiniteTimeSpan ? -1 : (int)Math.Clamp(timeout.TotalMilliseconds, 0, int.MaxValue);
        return UeventNetlink.PollReadable(_handle, ms);
    }

    /// <summary>Reads every pending datagram (until <c>EAGAIN</c>) and appends the kernel uevents to <paramref name="into"/>.</summary>
    /// <param name="into">Receives the parsed uevents in arrival order.</param>
    /// <returns>What this call read, dropped, and whether the kernel reported an overflow.</returns>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="IOException"><c>recvmsg</c> failed with an error other than <c>EAGAIN</c>, <c>EINTR</c> or <c>ENOBUFS</c>.</exception>
    public UeventReceiveResult ReceiveAll(List<Uevent> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        return ReceiveAll(into.Add);
    }

    /// <summary>Reads every pending datagram (until <c>EAGAIN</c>) and passes each kernel uevent to <paramref name="onEvent"/>.</summary>
    /// <param name="onEvent">Called on this thread for each accepted uevent, in arrival order.</param>
    /// <returns>What this call read, dropped, and whether the kernel reported an overflow.</returns>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="IOException"><c>recvmsg</c> failed with an error other than <c>EAGAIN</c>, <c>EINTR</c> or <c>ENOBUFS</c>.</exception>
    public UeventReceiveResult ReceiveAll(Action<Uevent> onEvent)
    {
        ArgumentNullException.ThrowIfNull(onEvent);
        var counts = default(UeventStats);
        while (true)
        {
            var status = UeventNetlink.Receive(_handle, _data, _control, out int length, out var sender);
            if (status == NetlinkReceiveStatus.WouldBlock)
                break;

            UeventStats one;
            Uevent? uevent = null;
            if (status == NetlinkReceiveStatus.Overflow)
            {
                UeventLog.Overflow(_logger);
                one = new UeventStats(0, 0, 0, 0, 0, Overflows: 1);
            }
            else
            {
                one = Classify(status, sender, _data.AsSpan(0, length), out uevent);
            }

            counts += one;
            _statistics += one;
            if (uevent is not null)
                onEvent(uevent);
        }

        return new UeventReceiveResult(counts);
    }

    private UeventStats Classify(NetlinkReceiveStatus status, NetlinkSender sender, ReadOnlySpan<byte> datagram, out Uevent? uevent)
    {
        uevent = null;
        if (!sender.IsKernel)
        {
            if (_logger.IsEnabled(LogLevel.Debug))
                UeventLog.NotKernel(_logger, sender.HasCredentials
                    ? $"port id {sender.PortId}, pid {sender.Pid}, uid {sender.Uid}"
                    : $"port id {sender.PortId}, no credentials");
            return new UeventStats(Received: 1, 0, 0, DroppedNotKernel: 1, 0, 0);
        }

        if (status == NetlinkReceiveStatus.Truncated)
        {
            UeventLog.Oversized(_logger, _data.Length);
            return new UeventStats(Received: 1, 0, 0, 0, DroppedOversized: 1, 0);
        }

        if (!UeventParser.TryParse(datagram, out uevent, out string? error))
        {
            UeventLog.Malformed(_logger, datagram.Length, error);
            return new UeventStats(Received: 1, 0, DroppedMalformed: 1, 0, 0, 0);
        }

        return new UeventStats(Received: 1, Parsed: 1, 0, 0, 0, 0);
    }

    /// <summary>Closes the socket. Safe to call more than once.</summary>
    public void Dispose() => _handle.Dispose();
}
