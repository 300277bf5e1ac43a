using Hotplug.E1000;
using Hotplug.FailSafe;

namespace Hotplug.VmAgent;

/// <summary>
/// The fail-safe scenario's data path: bursts on the group's <see cref="FailSafeGroup{TPort}.Active"/> port, read again
/// at every burst, each frame counted by the <see cref="SequenceCounter"/>. Make-before-break (optional): after a switch
/// whose previous port is still attached (a switch-back), it keeps polling that port too until the new active port has
/// delivered a frame (at most <see cref="MakeBeforeBreakMs"/>), since a NIC that has just come back may take a while to
/// deliver. The dead-device check: a burst on a port the group had retired (its REMOVE) before the burst began counts in
/// <see cref="LateBursts"/>, and the frames it returned in <see cref="DeadReads"/> (must stay 0).
/// </summary>
internal sealed class FailSafeReceiver(FailSafeGroup<FailSafeNic> group, SequenceCounter counter, bool makeBeforeBreak)
{
    public const double MakeBeforeBreakMs = 2000;
    private readonly Packet[] _burst = new Packet[32];
    private FailSafeNic? _last, _previous;
    private double _previousUntil;

    public long Bursts { get; private set; }
    public long LateBursts { get; private set; }
    public long DeadReads { get; private set; }
    public long DisposedBursts { get; private set; }
    public long PreviousPortFrames { get; private set; }

    /// <summary>Receives until <paramref name="endMs"/> or until <paramref name="stop"/> says so (asked every 250 ms, after an rx-tick).</summary>
    public void Run(double endMs, Func<bool> stop)
    {
        double tick = counter.StartMs + 250, now;
        while ((now = Report.NowMs()) < endMs)
        {
            var nic = group.Active;
            if (nic != _last)
            {
                _previous = makeBeforeBreak ? _last : null;
                _previousUntil = now + MakeBeforeBreakMs;
                _last = nic;
                // When the data path itself sees the new active port (the Switched event comes later: after the
                // group has detached the removed device).
                Report.Emit("fs-active", w =>
                {
                    w.WriteNumber("index", nic?.Index ?? -1);
                    w.WriteNumber("generation", nic?.Generation ?? 0);
                    w.WriteString("dev", nic?.Port.Device.Name ?? "");
                });
            }
            int n = nic is null ? 0 : Poll(nic, now);
            if (n > 0)
                _previous = null; // the active port delivers: the old one is no longer needed
            else if (_previous is { Retired: false } p && now < _previousUntil)
            {
                int k = Poll(p, now);
                PreviousPortFrames += k;
                n += k;
            }
            if (n == 0)
                Thread.Yield();
            if (now >= tick)
            {
                tick += 250;
                Report.Emit("rx-tick", w => { w.WriteNumber("received", counter.Received); w.WriteNumber("unique", counter.Unique); });
                if (stop())
                    break;
            }
        }
    }

    private int Poll(FailSafeNic nic, double now)
    {
        bool retired = nic.Retired;
        int n;
        try
        {
            n = nic.Port.ReceiveBurst(_burst);
        }
        catch (ObjectDisposedException)
        {
            DisposedBursts++;
            return 0;
        }
        Bursts++;
        if (retired)
        {
            LateBursts++;
            DeadReads += n;
        }
        for (int i = 0; i < n; i++)
        {
            if (counter.Count(_burst[i].Data, now))
                nic.NewFrames++;
            nic.Frames++;
            _burst[i].Free();
        }
        return n;
    }
}
