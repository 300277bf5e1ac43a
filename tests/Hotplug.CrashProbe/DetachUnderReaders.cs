using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;

/// <summary>
/// Mode detach-under-readers dispose|remove [zero] [--root DIR]: four simulated devices, sixteen threads
/// polling their BAR0 through <see cref="MappedBar.Read32"/> in a tight loop, and the devices are detached
/// under them (Eal.Dispose, or HotplugRemove of each). A read may return the device's register or the dead
/// value of the fill, or throw ObjectDisposedException; anything else is counted. The process must survive.
/// Prints <c>reader N: Type</c> when a reader throws anything else, then one line
/// <c>reads=N live=N dead=N disposed=N wrong=N exceptions=[Type:N,...]</c>, and exits 0.
/// The fake sysfs tree goes under DIR (the caller deletes it: a process that dies leaves it behind).
/// </summary>
internal static class DetachUnderReaders
{
    private const int Devices = 4;
    private const int Readers = 16;
    private const uint Id = 0x010000ed;

    public static int Run(string[] args)
    {
        bool dispose = args.Length > 0 && args[0] == "dispose";
        if (args.Length == 0 || (!dispose && args[0] != "remove"))
        {
            Console.Error.WriteLine("usage: Hotplug.CrashProbe detach-under-readers dispose|remove [zero] [--root DIR]");
            return 2;
        }
        var fill = args.Contains("zero") ? BarFill.Zero : BarFill.AllOnes;
        uint dead = fill == BarFill.Zero ? 0u : 0xFFFFFFFFu;

        int root = Array.IndexOf(args, "--root");
        using var sim = SimulatedPciBus.Create(root > 0 && root + 1 < args.Length ? args[root + 1] : null);
        var eal = PciEal.Create(sim.CreateOptions(fill));
        eal.Pci().RegisterDriver(new Driver());
        eal.EnableHotplugHandling();
        eal.Scan();
        var bars = new List<MappedBar>();
        for (int i = 0; i < Devices; i++)
        {
            string address = $"0000:0{i + 1}:00.0";
            sim.AddDevice(address, 0x1234, 0x11e8, [64 * 1024]).WriteRegister32(0, 0, Id);
            bars.Add(((PciDevice)eal.HotplugAdd("pci", address)).Bar(0));
        }

        // The data path: sixteen threads, four per device, created first and then let go together.
        var counts = new Counts[Readers];
        using var go = new ManualResetEventSlim();
        int running = 0;
        bool stop = false;
        var threads = Enumerable.Range(0, Readers).Select(r => new Thread(() =>
        {
            var bar = bars[r % Devices];
            var c = counts[r] = new Counts();
            go.Wait();
            Interlocked.Increment(ref running);
            while (!Volatile.Read(ref stop))
            {
                try
                {
                    uint v = bar.Read32(0);
                    c.Reads++;
                    if (v == Id)
                        c.Live++;
                    else if (v == dead)
                        c.Dead++;
                    else
                        c.Wrong++;
                }
                catch (ObjectDisposedException)
                {
                    c.Disposed++;
                    return; // the data path saw the BAR go: it stops
                }
                catch (Exception e)
                {
                    c.Exception = e.GetType().Name;
                    Console.WriteLine($"reader {r}: {c.Exception}"); // at once: a reader after it may kill the process
                    return;
                }
            }
        }) { IsBackground = true, Name = $"reader {r}" }).ToList();
        threads.ForEach(t => t.Start());
        go.Set();
        SpinWait.SpinUntil(() => Volatile.Read(ref running) == Readers);
        Thread.Sleep(5); // every reader is polling, most of them preempted somewhere in the loop

        if (dispose)
        {
            eal.Dispose();
        }
        else
        {
            for (int i = 0; i < Devices; i++)
                eal.HotplugRemove("pci", $"0000:0{i + 1}:00.0");
        }
        Thread.Sleep(20); // every reader gets the CPU again after the detach
        Volatile.Write(ref stop, true);
        threads.ForEach(t => t.Join());
        eal.Dispose();

        var exceptions = counts.Where(c => c.Exception is not null).GroupBy(c => c.Exception).Select(g => $"{g.Key}:{g.Count()}");
        Console.WriteLine($"reads={counts.Sum(c => c.Reads)} live={counts.Sum(c => c.Live)} dead={counts.Sum(c => c.Dead)} " +
            $"disposed={counts.Sum(c => c.Disposed)} wrong={counts.Sum(c => c.Wrong)} exceptions=[{string.Join(',', exceptions)}]");
        return 0;
    }

    private sealed class Counts
    {
        public long Reads, Live, Dead, Disposed, Wrong;
        public string? Exception;
    }

    private sealed class Driver : PciDriver
    {
        public override string Name => "detach-probe";
        public override IReadOnlyList<PciId> Ids { get; } = [new PciId(0x1234, 0x11e8)];
        public override bool Probe(PciDevice device) => true;
    }
}
