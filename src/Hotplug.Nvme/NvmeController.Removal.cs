using System.Diagnostics;
using static Hotplug.Nvme.NvmeRegisters;

namespace Hotplug.Nvme;

/// <summary>The controller going away: removal, liveness checks, shutdown, disposal.</summary>
public sealed partial class NvmeController
{
    /// <summary>
    /// The device is gone (the app forwards REMOVE here; <see cref="NvmeDriver.Remove"/> does too): every
    /// outstanding command of every queue pair completes at once with <see cref="NvmeStatus.ControllerRemoved"/>,
    /// and every later submission fails the same way. Idempotent; safe from any thread.
    /// </summary>
    public void OnRemoved()
    {
        MarkFailed(NvmeStatus.ControllerRemoved);
        NvmeQueue[] queues;
        lock (_queuesLock)
            queues = [.. _queues, _admin];
        foreach (var q in queues)
            lock (q.Gate)
                q.FailAll(Failure);
    }

    /// <summary>Records the failure; each queue completes its own outstanding commands on its next poll.</summary>
    internal void MarkFailed(NvmeStatus status) => Interlocked.CompareExchange(ref _failure, status.Code, 0);

    /// <summary>A poll saw nothing for a while: is the controller still there (CSTS not all-ones, not fatal, BAR not dead)?</summary>
    internal void CheckAlive()
    {
        try
        {
            if (Bar.IsRemapped)
            {
                MarkFailed(NvmeStatus.ControllerRemoved);
                return;
            }
            uint csts = Bar.Read32(Csts);
            if (csts == AllOnes)
                MarkFailed(NvmeStatus.ControllerRemoved);
            else if ((csts & CstsFatal) != 0)
                MarkFailed(NvmeStatus.ControllerFailed);
        }
        catch (ObjectDisposedException)
        {
            MarkFailed(NvmeStatus.ControllerRemoved);
        }
    }

    /// <summary>
    /// Normal shutdown (CC.SHN=01), waiting up to <paramref name="timeout"/> for CSTS.SHST=10b; from here on nothing
    /// new is sent (submissions fail with <see cref="NvmeStatus.ControllerRemoved"/>). Commands still outstanding
    /// complete as the controller reports them, or with ControllerRemoved once it is gone. True if the controller
    /// said the shutdown was complete.
    /// </summary>
    public bool Shutdown(TimeSpan timeout)
    {
        _closed = true;
        var sw = Stopwatch.StartNew();
        bool done = false;
        try
        {
            uint csts = Bar.Read32(Csts);
            if (csts == AllOnes || Bar.IsRemapped)
            {
                OnRemoved();
                return false;
            }
            uint cc = Bar.Read32(Cc);
            Bar.Write32(Cc, (cc & ~CcShnMask) | CcShnNormal);
            while (!(done = (Bar.Read32(Csts) & CstsShstMask) == CstsShstComplete) && sw.Elapsed < timeout)
                Thread.SpinWait(50);
        }
        catch (ObjectDisposedException)
        {
            OnRemoved();
        }
        LastShutdown = (sw.Elapsed, done);
        return done;
    }

    /// <summary>
    /// Disables a controller that still answers (CC.EN=0, bounded by CAP.TO: it stops fetching and forgets the
    /// queues), then gives the admin queue's memory back. Queue pairs are disposed by their owners.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _closed = true;
        if (!HasFailed)
        {
            try
            {
                if (!Bar.IsRemapped && Bar.Read32(Csts) != AllOnes)
                {
                    Bar.Write32(Cc, Bar.Read32(Cc) & ~CcEnable);
                    WaitReady(false, "disable (CC.EN=0)");
                }
            }
            catch (Exception e) when (e is NvmeException or ObjectDisposedException)
            {
                // gone or stuck: nothing more to ask of it
            }
        }
        lock (_adminLock)
            lock (_admin.Gate)
            {
                _admin.FailAll(NvmeStatus.ControllerRemoved);
                _admin.Dispose();
            }
    }
}
