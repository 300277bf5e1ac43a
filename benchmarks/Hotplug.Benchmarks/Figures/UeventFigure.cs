using System.Diagnostics;
using System.Globalization;
using Hotplug;
using Hotplug.Uevents;
using Hotplug.Pci;
using Hotplug.Testing;
using Microsoft.Win32.SafeHandles;

namespace Hotplug.Benchmarks.Figures;

/// <summary>
/// uevent -> callback: a real kernel uevent, made by writing "change" to /sys/class/net/lo/uevent (the
/// kernel re-announces lo; nothing else happens), through eal.StartDeviceEventMonitor() to the app's
/// eal.UeventReceived handler, against a C thread blocked in recv() on its own uevent socket.
/// Sample = handler sees lo's change - just before the write.
/// </summary>
public static class UeventFigure
{
    public const string UeventFile = "/sys/class/net/lo/uevent";
    private static ReadOnlySpan<byte> Change => "change"u8;

    public static IEnumerable<FigureResult> Run(FigureOptions o)
    {
        if (!File.Exists(UeventFile))
        {
            Log.Info($"uevent_callback: {UeventFile} is missing; skipped");
            yield return new FigureResult("uevent_callback", new Samples(), null, "<= 1.2x", "C recv()", $"skipped: no {UeventFile}");
            yield break;
        }
        int n = 300 * o.Scale / o.Rounds;
        var ours = new Samples();
        var c = new Samples();
        int lost = 0;
        for (int r = 0; r < o.Rounds; r++)
        {
            c.AddRange(Baseline.Run(o.BinDir, "uevent", n.ToString(CultureInfo.InvariantCulture), UeventFile));
            lost += Managed(n, ours, o.Pin);
        }
        Log.Info($"uevent_callback: ours median {FigureResult.Fmt(ours.MedianUs)} us, C {FigureResult.Fmt(c.MedianUs)} us");
        yield return new FigureResult("uevent_callback", ours, c, "<= 1.2x", "C: a thread blocked in recv() on its own uevent socket",
            lost > 0 ? $"{lost} uevents not seen within 1 s" : "");
    }

    private static int Managed(int iterations, Samples samples, bool pin)
    {
        using var split = CpuSplit.Begin(pin);
        using var sim = SimulatedPciBus.Create(FaultFigures.FastTempDir());
        using var eal = PciEal.Create(sim.CreateOptions(), null);
        split.DataPath();
        using var seen = new ManualResetEventSlim();
        long seenAt = 0;
        eal.UeventReceived += ev =>
        {
            if (ev.Action == UeventAction.Change && ev.DevPath == "/devices/virtual/net/lo")
            {
                seenAt = Stopwatch.GetTimestamp();
                seen.Set();
            }
        };
        eal.StartDeviceEventMonitor();
        using SafeFileHandle file = File.OpenHandle(UeventFile, FileMode.Open, FileAccess.Write);
        Thread.Sleep(10);
        int lost = 0;
        for (int i = -20; i < iterations; i++)
        {
            seen.Reset();
            long t0 = Stopwatch.GetTimestamp();
            RandomAccess.Write(file, Change, 0);
            if (!seen.Wait(1000))
            {
                lost++;
                continue;
            }
            if (i >= 0)
                samples.Add(seenAt - t0);
        }
        return lost;
    }
}
