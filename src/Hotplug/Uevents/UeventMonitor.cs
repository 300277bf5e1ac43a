using Hotplug.Loop;
using Microsoft.Extensions.Logging;
using static Tmds.Linux.LibC;

namespace Hotplug.Uevents;

/// <summary>
/// The uevent source of the event loop: reads every pending kernel uevent per wake-up, hands each to
/// <c>onUevent</c>, and calls <c>onOverflow</c> when the kernel dropped some (ENOBUFS) so the caller can
/// rescan, and reports each read's counters to <c>onCounts</c>. It keeps running through malformed messages and overflows.
/// </summary>
internal sealed class UeventMonitor : IDisposable
{
    private readonly UeventSocket _socket;
    private readonly IDisposable _watch;
    private readonly Action<Uevent> _onUevent;
    private readonly Action _onOverflow;
    private readonly Action<UeventStats> _onCounts;
    private readonly ILogger _logger;

    public UeventMonitor(EventLoop loop, int bufferBytes, Action<Uevent> onUevent, Action onOverflow, Action<UeventStats> onCounts, ILogger logger)
    {
        _onUevent = onUevent;
        _onOverflow = onOverflow;
        _onCounts = onCounts;
        _logger = logger;
        _socket = UeventSocket.Open(bufferBytes, logger);
        _logger.LogInformation("uevent monitor started: receive buffer {Bytes} bytes ({Option})", _socket.ReceiveBufferBytes, _socket.ReceiveBufferOption);
        try
        {
            _watch = loop.Add(_socket.Fd, EPOLLIN, _ => Drain(), "uevent-socket");
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
    }

    public UeventStats Stats => _socket.Statistics;

    private void Drain()
    {
        var result = _socket.ReceiveAll(ev =>
        {
            try
            {
                _onUevent(ev);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Handling uevent {Uevent} failed", ev);
            }
        });
        _onCounts(result.Counts);
        if (result.Overflowed)
            _onOverflow();
    }

    public void Dispose()
    {
        _watch.Dispose();
        _socket.Dispose();
        _logger.LogInformation("uevent monitor stopped");
    }
}
