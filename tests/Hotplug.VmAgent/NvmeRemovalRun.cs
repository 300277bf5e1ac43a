using System.Collections.Concurrent;
using System.Text;
using Hotplug.Nvme;

namespace Hotplug.VmAgent;

/// <summary>
/// The removal half of <c>nvme-bench</c>, on its own thread: <see cref="NvmeBenchIo.Depth"/> 4 KiB random reads kept
/// in flight, every successful completion counted in a per-ms bucket (guest CLOCK_MONOTONIC, from <see cref="Ms0"/>).
/// The first command that fails (ControllerRemoved) is stamped; the thread stops submitting, reaps what is still
/// outstanding, gives the queue pair back and waits for the scenario to <see cref="Resume"/> it with a queue pair of
/// the re-attached controller; then the first successful read is stamped and it runs <c>postMs</c> more.
/// </summary>
internal sealed class NvmeRemovalRun(NvmeBenchIo io, int maxMs, int postMs)
{
    private readonly int[] _buckets = new int[maxMs + 2];
    private readonly BlockingCollection<NvmeQueuePair> _next = new();

    public double Ms0 { get; private set; }
    public double FirstErrorMs { get; private set; } = -1;
    public double DrainedMs { get; private set; } = -1;
    public double ResumedMs { get; private set; } = -1;
    public double FirstOkMs { get; private set; } = -1;
    public string FirstError { get; private set; } = "";
    public long OkBefore { get; private set; }
    public long OkAfter { get; private set; }
    public long Errors { get; private set; }
    public string? Failure { get; private set; }

    /// <summary>Set once the old queue pair is drained and disposed.</summary>
    public ManualResetEventSlim Drained { get; } = new();

    public void Resume(NvmeQueuePair qp) => _next.Add(qp);

    public void Run(NvmeQueuePair qp)
    {
        try
        {
            Ms0 = Report.NowMs();
            if (!Pump(qp, resumed: false))
                return;
            if (!_next.TryTake(out var again, TimeSpan.FromMilliseconds(maxMs)))
            {
                Failure = "no re-attached queue pair";
                return;
            }
            ResumedMs = Report.NowMs();
            Pump(again, resumed: true);
        }
        catch (Exception e)
        {
            Failure = e.ToString();
            Drained.Set();
        }
    }

    /// <summary>Runs the queue pair until a command fails (or, resumed, until postMs after the first success); drains and disposes it.</summary>
    private bool Pump(NvmeQueuePair qp, bool resumed)
    {
        var free = new Stack<int>();
        for (int t = 0; t < io.Depth; t++)
            free.Push(t);
        bool failed = false, said = resumed;
        qp.CompletionHandler = (tag, s) =>
        {
            double now = Report.NowMs();
            free.Push((int)tag);
            if (s.IsSuccess)
            {
                int k = (int)(now - Ms0);
                if (k >= 0 && k < _buckets.Length) _buckets[k]++;
                if (!resumed) OkBefore++;
                else { OkAfter++; if (FirstOkMs < 0) FirstOkMs = now; }
                return;
            }
            Errors++;
            Failed(now, s);
            failed = true;
        };
        while (true)
        {
            double now = Report.NowMs();
            if (now - Ms0 > maxMs) { Failure ??= $"no end within {maxMs} ms"; break; }
            if (resumed && FirstOkMs >= 0 && now - FirstOkMs > postMs) break;
            if (!said && now - Ms0 > 300)
            {
                said = true;
                Report.Emit("removal-running", w => { w.WriteString("side", "ours"); w.WriteNumber("qd", io.Depth); });
            }
            while (!failed && free.Count > 0)
            {
                var s = io.Submit(qp, free.Peek());
                if (s == NvmeStatus.QueueFull) break;
                if (!s.IsSuccess) { Errors++; Failed(Report.NowMs(), s); failed = true; break; }
                free.Pop();
            }
            if (failed) break;
            qp.ProcessCompletions(io.Depth);
        }
        var until = DateTime.UtcNow.AddSeconds(10);
        while (qp.Outstanding > 0 && DateTime.UtcNow < until)
            qp.ProcessCompletions(io.Depth);
        qp.CompletionHandler = null;
        qp.Dispose();
        if (!resumed)
        {
            DrainedMs = Report.NowMs();
            Drained.Set();
        }
        return failed && !resumed;
    }

    private void Failed(double now, NvmeStatus s)
    {
        if (FirstErrorMs >= 0) return;
        FirstErrorMs = now;
        FirstError = s.ToString();
    }

    /// <summary>The per-ms counts as JSON lines of sparse "index:count" pairs, 200 to a line (as nvme-kbench prints them).</summary>
    public void EmitBuckets(double endMs)
    {
        int n = Math.Min(_buckets.Length, (int)(endMs - Ms0) + 1), onLine = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++)
        {
            if (_buckets[i] == 0) continue;
            sb.Append(onLine == 0 ? "" : ",").Append(i).Append(':').Append(_buckets[i]);
            if (++onLine == 200) { Flush(sb); onLine = 0; }
        }
        if (onLine > 0) Flush(sb);
    }

    private void Flush(StringBuilder sb)
    {
        string c = sb.ToString();
        sb.Clear();
        Report.Emit("buckets", w => { w.WriteString("side", "ours"); w.WriteNumber("ms0", Math.Round(Ms0, 3)); w.WriteString("c", c); });
    }
}
