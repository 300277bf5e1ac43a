using Microsoft.Extensions.Logging;
using static Hotplug.E1000.E1000Registers;

namespace Hotplug.E1000;

/// <summary>The NIC going away: removal, liveness checks, stop, disposal.</summary>
public sealed partial class E1000Port
{
    private readonly ILogger? _logger;
    private volatile bool _removed;
    private volatile bool _stopped;
    private bool _disposed;

    /// <summary>True once the NIC is known to be gone: bursts return 0 and <see cref="Link"/> reads down.</summary>
    public bool IsRemoved => _removed;

    /// <summary>True once <see cref="Stop"/> has run (or the port is removed): bursts return 0.</summary>
    public bool IsStopped => _stopped || _removed;

    /// <summary>
    /// The NIC is gone (the app forwards REMOVE here; <see cref="E1000Driver.Remove"/> does too): bursts return 0 from
    /// now on and no register of the NIC is touched again. Idempotent; safe from any thread (it takes no lock).
    /// </summary>
    public void OnRemoved() => MarkRemoved();

    internal void MarkRemoved()
    {
        if (_removed)
            return;
        _removed = true;
        _logger?.LogWarning("{Device}: the e1000 port is removed; bursts return 0 from now on", Device.Name);
    }

    /// <summary>The BAR remapped to dead memory, or STATUS reading all-ones, means the NIC is gone.</summary>
    private void CheckAlive()
    {
        try
        {
            if (Bar.IsRemapped || Bar.Read32(Status) == AllOnes)
                MarkRemoved();
        }
        catch (ObjectDisposedException)
        {
            MarkRemoved();
        }
    }

    /// <summary>
    /// Stops receive and transmit (RCTL.EN = TCTL.EN = 0) while the NIC still answers; bursts return 0 from then on.
    /// Takes no lock (it runs on the event thread from <see cref="E1000Driver.Quiesce"/>). Idempotent.
    /// </summary>
    public void Stop()
    {
        _stopped = true;
        if (_removed)
            return;
        try
        {
            if (Bar.IsRemapped || Bar.Read32(Status) == AllOnes)
            {
                MarkRemoved();
                return;
            }
            Bar.Write32(Rctl, 0);
            Bar.Write32(Tctl, 0);
        }
        catch (ObjectDisposedException)
        {
            MarkRemoved();
        }
    }

    /// <summary>
    /// Stops a NIC that still answers (receive and transmit off, then a reset), gives every buffer back to its pool,
    /// the rings to the allocator, and disposes the pool if the port made it (forced: frames the app still holds from
    /// it become unusable). Stop the data path first; a burst after this throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        lock (_rxLock)
            lock (_txLock)
            {
                if (_disposed)
                    return;
                _disposed = true;
                if (!_removed)
                {
                    try
                    {
                        if (!Bar.IsRemapped && Bar.Read32(Status) != AllOnes)
                        {
                            Bar.Write32(Rctl, 0);
                            Bar.Write32(Tctl, 0);
                            Bar.Write32(Ctrl, Bar.Read32(Ctrl) | CtrlRst);
                        }
                    }
                    catch (ObjectDisposedException)
                    {
                        // detached already: nothing more to ask of it
                    }
                }
                _rx.Dispose();
                _tx.Dispose();
                if (_ownsPool)
                    Pool.Dispose(force: true);
            }
        (Device.Driver as E1000Driver)?.Unregister(Device, this);
    }
}
