using System.Buffers.Binary;
using System.Text;

namespace Hotplug.VmAgent;

/// <summary>
/// Counts the frames of hpsend (tests/Hotplug.VmTests/guest/hpsend.c) exactly as the peer's receiver does
/// (benchmarks/vm/fsrecv.c), so both sides of the fail-safe benchmark are counted the same way:
/// a frame whose sequence number was never seen is new ("unique"), and also "late" if a higher number was seen before
/// it (reordered: a stale frame of the newly active port that nobody had received); a number seen before is a
/// "duplicate" (a hub gives every NIC every frame, so a standby's ring holds frames the active port received too).
/// Per millisecond since <see cref="StartMs"/>: new frames and all frames. Every run of numbers below the highest seen
/// that never arrived is a gap, with the send stamps (guest CLOCK_MONOTONIC) of the frames around it.
/// </summary>
internal sealed class SequenceCounter(double startMs)
{
    private const int MaxSeq = 4 << 20;
    private const int MaxMs = 120_000;
    private readonly ulong[] _seen = new ulong[MaxSeq / 64];
    private readonly float[] _sendMs = new float[MaxSeq];
    private readonly ushort[] _binNew = new ushort[MaxMs];
    private readonly ushort[] _binAll = new ushort[MaxMs];

    public double StartMs { get; } = startMs;
    public long Received { get; private set; }
    public long Unique { get; private set; }
    public long Duplicates { get; private set; }
    public long Late { get; private set; }
    public long Foreign { get; private set; }
    public long MaxSeen { get; private set; } = -1;

    /// <summary>Counts one frame received at <paramref name="nowMs"/>; true if its number is new.</summary>
    public bool Count(ReadOnlySpan<byte> f, double nowMs)
    {
        if (f.Length < 38 || f[12] != 0x88 || f[13] != 0xb5 || !f.Slice(14, 4).SequenceEqual("HPSQ"u8))
        {
            Foreign++;
            return false;
        }
        ulong s = BinaryPrimitives.ReadUInt64LittleEndian(f[22..]);
        if (s >= MaxSeq)
        {
            Foreign++;
            return false;
        }
        Received++;
        long ms = (long)(nowMs - StartMs);
        bool fresh = (_seen[s / 64] >> (int)(s % 64) & 1) == 0;
        if (ms >= 0 && ms < MaxMs)
        {
            _binAll[ms]++;
            if (fresh)
                _binNew[ms]++;
        }
        if (!fresh)
        {
            Duplicates++;
            return false;
        }
        _seen[s / 64] |= 1ul << (int)(s % 64);
        _sendMs[s] = (float)(BinaryPrimitives.ReadUInt64LittleEndian(f[30..]) / 1e6);
        Unique++;
        if (MaxSeen >= 0 && (long)s < MaxSeen)
            Late++;
        if ((long)s > MaxSeen)
            MaxSeen = (long)s;
        return true;
    }

    /// <summary>Every run of numbers never received below the highest seen: first number, count, send stamps around it.</summary>
    public List<(long First, long Count, double BeforeMs, double AfterMs)> Gaps()
    {
        var gaps = new List<(long, long, double, double)>();
        for (long s = 0; s < MaxSeen; s++)
        {
            if (Seen(s))
                continue;
            long e = s;
            while (e < MaxSeen && !Seen(e))
                e++;
            gaps.Add((s, e - s, s > 0 ? _sendMs[s - 1] : -1, _sendMs[e]));
            s = e;
        }
        return gaps;
    }

    /// <summary>The longest run of milliseconds without a new frame in [fromMs, toMs) (guest clock): length and start.</summary>
    public (int Ms, double AtMs) LongestSilence(double fromMs, double toMs)
    {
        int lo = Math.Max(0, (int)(fromMs - StartMs)), hi = Math.Min(MaxMs, (int)(toMs - StartMs));
        int best = 0, run = 0, start = lo, bestAt = lo;
        for (int i = lo; i < hi; i++)
        {
            if (_binNew[i] != 0)
            {
                run = 0;
                continue;
            }
            if (run++ == 0)
                start = i;
            if (run > best)
                (best, bestAt) = (run, start);
        }
        return (best, bestAt + StartMs);
    }

    /// <summary>The lines fsrecv.c writes too: rx-summary, one rx-gap per gap, rx-bins (100 ms a line: short lines stay whole on a console) up to <paramref name="endMs"/>.</summary>
    public void Write(string side, double endMs)
    {
        Report.Emit("rx-summary", w =>
        {
            w.WriteString("side", side);
            w.WriteNumber("start_ms", StartMs);
            w.WriteNumber("received", Received);
            w.WriteNumber("unique", Unique);
            w.WriteNumber("duplicates", Duplicates);
            w.WriteNumber("late", Late);
            w.WriteNumber("max_seq", MaxSeen);
            w.WriteNumber("foreign", Foreign);
        });
        foreach (var (first, count, before, after) in Gaps())
            Report.Emit("rx-gap", w =>
            {
                w.WriteNumber("first", first);
                w.WriteNumber("count", count);
                w.WriteNumber("before_ms", Math.Round(before, 3));
                w.WriteNumber("after_ms", Math.Round(after, 3));
            });
        int n = Math.Min(MaxMs, (int)(endMs - StartMs) + 1);
        for (int b = 0; b < n; b += 100)
        {
            int from = b, to = Math.Min(n, b + 100);
            Report.Emit("rx-bins", w =>
            {
                w.WriteNumber("from", from);
                w.WriteString("u", Join(_binNew, from, to));
                w.WriteString("a", Join(_binAll, from, to));
            });
        }
    }

    private bool Seen(long s) => (_seen[s / 64] >> (int)(s % 64) & 1) != 0;

    private static string Join(ushort[] bins, int from, int to)
    {
        var sb = new StringBuilder((to - from) * 2);
        for (int i = from; i < to; i++)
            sb.Append(i > from ? "," : "").Append(bins[i]);
        return sb.ToString();
    }
}
