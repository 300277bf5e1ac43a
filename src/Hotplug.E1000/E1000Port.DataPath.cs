namespace Hotplug.E1000;

/// <summary>Burst receive and transmit.</summary>
public sealed partial class E1000Port
{
    // An empty receive burst (or a transmit burst that found the ring full) this many times in a row checks
    // whether the NIC is still there: the BAR remapped, or STATUS reading all-ones.
    private const int IdleCheckInterval = 4096;
    private int _rxIdle, _txStalls;

    /// <summary>
    /// Takes up to <paramref name="packets"/>.Length received frames (each a <see cref="Packet"/> whose
    /// <see cref="Packet.Data"/> is the frame without its FCS); returns how many. The caller owns them: free them, or
    /// hand them to <see cref="TransmitBurst"/>. Allocates nothing. Returns 0 once the port is removed or stopped.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The port is disposed.</exception>
    public int ReceiveBurst(Span<Packet> packets)
    {
        lock (_rxLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_removed || _stopped)
                return 0;
            int n = _rx.Receive(packets, ref _rxStats);
            if (_rx.Detached)
                MarkRemoved();
            if (n > 0)
                _rxIdle = 0;
            else if (++_rxIdle >= IdleCheckInterval)
            {
                _rxIdle = 0;
                CheckAlive();
            }
            return n;
        }
    }

    /// <summary>
    /// Hands up to <paramref name="packets"/>.Length frames to the NIC (each <see cref="Packet.Length"/> bytes, the
    /// NIC adds the FCS and pads short frames); returns how many it took, from the start of the span. Those belong to
    /// the port now and go back to their pool once sent; the rest stay the caller's (the ring was full). Allocates
    /// nothing. Returns 0 once the port is removed or stopped.
    /// </summary>
    /// <exception cref="ArgumentException">A packet (among those the ring has room for) is a null handle or empty; nothing is sent.</exception>
    /// <exception cref="ObjectDisposedException">The port is disposed.</exception>
    public int TransmitBurst(ReadOnlySpan<Packet> packets)
    {
        lock (_txLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_removed || _stopped || packets.IsEmpty)
                return 0;
            int n = _tx.Transmit(packets, ref _txStats);
            if (_tx.Detached)
                MarkRemoved();
            if (n == packets.Length)
                _txStalls = 0;
            else if (++_txStalls >= IdleCheckInterval)
            {
                _txStalls = 0;
                CheckAlive();
            }
            return n;
        }
    }

    /// <summary>Frees the buffers of frames the NIC has sent (a burst does this too); returns the frames still in flight.</summary>
    /// <exception cref="ObjectDisposedException">The port is disposed.</exception>
    public int ReclaimTransmitted()
    {
        lock (_txLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_removed)
                _tx.Reclaim();
            return _tx.InFlight;
        }
    }
}
