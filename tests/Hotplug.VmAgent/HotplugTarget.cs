using System.Runtime.InteropServices;
using System.Text.Json;
using Hotplug.E1000;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// What <see cref="HotplugLoop"/> drives on the device: its driver, and a data path started on each attachment
/// and stopped on REMOVE (before the detach). QEMU's edu (a BAR poller) or an 82540EM (a receive-burst poller), so
/// that the removal is timed on the same NIC the DPDK peer drives.
/// </summary>
internal interface IHotplugTarget
{
    PciDriver Driver { get; }

    /// <summary>Starts the data path on the attached device; writes its fields into the attach line. False: not the expected device.</summary>
    bool Start(PciDevice device, Utf8JsonWriter w);

    /// <summary>Stops the data path (after REMOVE, before the detach) and reports "datapath-stopped".</summary>
    void Stop(int cycle);
}

/// <summary>edu: the identification register read in a loop (<see cref="EduDataPath"/>).</summary>
internal sealed class EduTarget : IHotplugTarget
{
    private readonly EduDriver _driver = new();
    private EduDataPath? _dataPath;
    private MappedBar? _bar;

    public PciDriver Driver => _driver;

    public bool Start(PciDevice device, Utf8JsonWriter w)
    {
        _bar = device.Bar(0);
        uint id = _bar.Read32(0);
        w.WriteString("kind", _bar.Kind.ToString());
        w.WriteString("id", $"0x{id:x8}");
        _dataPath = new EduDataPath(_bar);
        return id == EduDriver.Identification;
    }

    public void Stop(int cycle)
    {
        var totals = _dataPath?.Stop() ?? default;
        _dataPath = null;
        // What the BAR reads now, after REMOVE and before the detach (the data path may not have run since).
        uint? final = _bar?.Read32(0);
        _bar = null;
        Report.Emit("datapath-stopped", w =>
        {
            w.WriteNumber("cycle", cycle);
            w.WriteNumber("reads", totals.Reads);
            w.WriteNumber("dead_reads", totals.DeadReads);
            w.WriteString("last", $"0x{totals.Last:x8}");
            w.WriteNumber("inverter_errors", totals.InverterErrors);
            if (final is uint f) w.WriteString("final", $"0x{f:x8}");
        });
    }
}

/// <summary>82540EM: an <see cref="E1000Port"/> on the bus's DMA allocator, polled with receive bursts on a thread.</summary>
internal sealed class E1000Target(PciBus pci) : IHotplugTarget
{
    private readonly TimedE1000Driver _driver = new();
    private E1000Port? _port;
    private Thread? _thread;
    private volatile bool _running;
    private long _bursts, _packets;

    public PciDriver Driver => _driver;

    /// <summary>HP_RX_IDLE=yield: sched_yield after an empty burst; else spin, as DPDK's forwarding lcore does.</summary>
    private static readonly bool YieldWhenIdle = Environment.GetEnvironmentVariable("HP_RX_IDLE") == "yield";

    public bool Start(PciDevice device, Utf8JsonWriter w)
    {
        var port = E1000Port.Attach(device, pci.DmaFor(device));
        w.WriteString("mac", port.MacString);
        w.WriteString("link", port.Link.ToString());
        w.WriteNumber("port_attach_ms", port.AttachTime.TotalMilliseconds);
        _port = port;
        _running = true;
        _bursts = _packets = 0;
        _thread = new Thread(() =>
        {
            PinToLastCpu(); // as DPDK's forwarding lcore (-l 0-1: lcore 1); the event thread keeps to the others (ControlCpus)
            var burst = new Packet[32]; // once: the loop allocates nothing
            while (_running)
            {
                int n = port.ReceiveBurst(burst);
                _bursts++;
                if (n == 0)
                {
                    if (YieldWhenIdle) Thread.Yield();
                    continue;
                }
                _packets += n;
                port.Pool.FreeBulk(burst.AsSpan(0, n));
            }
        }) { IsBackground = true, Name = "e1000-rx" };
        _thread.Start();
        return true;
    }

    /// <summary>Every CPU but the last (the one the receive thread spins on); null on a 1-CPU machine.</summary>
    public static IReadOnlyCollection<int>? ControlCpus() =>
        Environment.ProcessorCount is >= 2 and <= 64 ? [.. Enumerable.Range(0, Environment.ProcessorCount - 1)] : null;

    /// <summary>Pins the calling thread to the last CPU (sched_setaffinity); best effort.</summary>
    private static unsafe void PinToLastCpu()
    {
        int cpu = Environment.ProcessorCount - 1;
        if (cpu < 1 || cpu > 63)
            return;
        ulong mask = 1UL << cpu;
        _ = SchedSetAffinity(0, sizeof(ulong), &mask);
    }

    [DllImport("libc.so.6", EntryPoint = "sched_setaffinity")]
    private static extern unsafe int SchedSetAffinity(int pid, nuint size, ulong* mask);

    public void Stop(int cycle)
    {
        _running = false;
        _thread?.Join();
        var port = _port;
        _port = null;
        Report.Emit("datapath-stopped", w =>
        {
            w.WriteNumber("cycle", cycle);
            w.WriteNumber("bursts", _bursts);
            w.WriteNumber("packets", _packets);
            w.WriteBoolean("removed", port?.IsRemoved ?? false);
            w.WriteNumber("quiesce_ms", _driver.QuiesceStartMs);
            w.WriteNumber("quiesce_took_ms", _driver.QuiesceTookMs);
        });
        _driver.QuiesceStartMs = _driver.QuiesceTookMs = -1;
        port?.Dispose();
    }
}

/// <summary>The 82540EM driver, its <c>Quiesce</c> (on the removal path, before REMOVE is published) timed on the guest clock.</summary>
internal sealed class TimedE1000Driver : E1000Driver
{
    public double QuiesceStartMs { get; set; } = -1;
    public double QuiesceTookMs { get; set; } = -1;

    public override void Quiesce(PciDevice device)
    {
        double t0 = Report.NowMs();
        base.Quiesce(device);
        QuiesceTookMs = Report.NowMs() - t0;
        QuiesceStartMs = t0;
    }
}
