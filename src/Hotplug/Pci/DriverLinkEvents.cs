using Hotplug.Uevents;
using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>
/// The kernel's word that a function's driver changed: its <c>bind</c> / <c>unbind</c> uevents (KOBJ_BIND and
/// KOBJ_UNBIND, since Linux 4.14), or its <c>remove</c>. Open it before looking at the <c>driver</c> link, then
/// <see cref="Wait"/> between looks: a change after the look wakes the wait at once. Without a uevent socket (none
/// could be opened) and for a tree the kernel does not own (a simulated one), the wait simply times out.
/// </summary>
internal sealed class DriverLinkEvents : IDisposable
{
    private readonly UeventSocket? _socket;
    private readonly string _suffix;
    private readonly List<Uevent> _batch = [];

    public DriverLinkEvents(PciAddress address, ILogger logger)
    {
        _suffix = "/" + address;
        try
        {
            _socket = UeventSocket.Open(64 * 1024);
        }
        catch (IOException e)
        {
            logger.LogDebug("{Device}: no uevent socket ({Error}); the driver link is looked at on a timer", address, e.Message);
        }
    }

    /// <summary>Returns when the function's driver may have changed, or after <paramref name="timeout"/>.</summary>
    public void Wait(TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = until - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                return;
            if (_socket is null)
            {
                Thread.Sleep(left); // no event source: the caller's timed look is all there is
                return;
            }
            if (!_socket.WaitReadable(left))
                return;
            _batch.Clear();
            _socket.ReceiveAll(_batch);
            if (_batch.Exists(IsOurs))
                return;
        }
    }

    private bool IsOurs(Uevent e) =>
        e.Action is UeventAction.Bind or UeventAction.Unbind or UeventAction.Remove && e.DevPath.EndsWith(_suffix, StringComparison.Ordinal);

    public void Dispose() => _socket?.Dispose();
}
