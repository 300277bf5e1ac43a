using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// The agent's data path: a thread that reads edu's identification register (BAR0 0x00) until stopped,
/// reports every change of the value it reads, and every 64 reads, while the device still answers,
/// writes the inverter register (0x04) and checks what it reads back.
/// </summary>
internal sealed class EduDataPath
{
    private readonly Thread _thread;
    private volatile bool _running = true;
    private long _reads, _deadReads, _inverterErrors;
    private uint _last;

    public EduDataPath(MappedBar bar)
    {
        _thread = new Thread(() =>
        {
            uint previous = EduDriver.Identification, n = 0;
            while (_running)
            {
                uint v = bar.Read32(0);
                Interlocked.Increment(ref _reads);
                if (v != EduDriver.Identification) _deadReads++;
                if (v != previous)
                {
                    uint seen = v;
                    Report.Emit("value", w => w.WriteString("id", $"0x{seen:x8}"));
                    previous = v;
                }
                if ((++n & 63) == 0 && v == EduDriver.Identification)
                {
                    bar.Write32(4, n);
                    uint inv = bar.Read32(4);
                    // A wrong inverse counts only if the device was still there after it.
                    if (inv != ~n && bar.Read32(0) == EduDriver.Identification) _inverterErrors++;
                }
                _last = v;
            }
        }) { IsBackground = true, Name = "edu-datapath" };
        _thread.Start();
    }

    /// <summary>Reads so far (safe to call while running).</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Stops and joins the thread; returns its totals.</summary>
    public EduDataPathTotals Stop()
    {
        _running = false;
        _thread.Join();
        return new EduDataPathTotals(_reads, _deadReads, _last, _inverterErrors);
    }
}

/// <summary>What a stopped <see cref="EduDataPath"/> did.</summary>
internal readonly record struct EduDataPathTotals(long Reads, long DeadReads, uint Last, long InverterErrors);
