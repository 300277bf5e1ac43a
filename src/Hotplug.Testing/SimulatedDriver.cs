using Hotplug.Pci;

namespace Hotplug.Testing;

/// <summary>
/// A configurable PCI driver for tests and benchmarks: its id table, whether it wants the BARs mapped and
/// what its <see cref="Probe"/> does are settable; it counts and records its calls (thread-safe: probes and
/// removes may come from the event thread).
/// </summary>
/// <example>
/// <code>
/// var driver = new SimulatedDriver("edu", new PciId(0x1234, 0x11e8)) { OnProbe = d => d.Bar(0).Read32(0) == 0x010000ed };
/// eal.Pci().RegisterDriver(driver);
/// </code>
/// </example>
public sealed class SimulatedDriver : PciDriver
{
    private readonly object _gate = new();
    private readonly List<string> _probed = [];
    private readonly List<string> _removed = [];
    private readonly List<int> _barsSeenAtProbe = [];
    private int _probeCalls;
    private int _removeCalls;

    /// <summary>Creates a driver named <paramref name="name"/> for the given ids; with none, for every device.</summary>
    public SimulatedDriver(string name = "simulated", params PciId[] ids)
    {
        Name = name;
        Ids = ids.Length > 0 ? ids : [new PciId(PciId.Any, PciId.Any)];
    }

    /// <inheritdoc />
    public override string Name { get; }

    /// <inheritdoc />
    public override IReadOnlyList<PciId> Ids { get; }

    /// <summary>Whether the library maps the BARs before <see cref="Probe"/> (<see cref="NeedsMapping"/>). True by default.</summary>
    public bool MapBars { get; set; } = true;

    /// <inheritdoc />
    public override bool NeedsMapping => MapBars;

    /// <summary>What <see cref="Probe"/> does after recording the call: true takes the device, false declines it, an exception is a failed probe. Takes every device by default.</summary>
    public Func<PciDevice, bool> OnProbe { get; set; } = _ => true;

    /// <summary>What <see cref="Remove"/> does after recording the call, if anything.</summary>
    public Action<PciDevice>? OnRemove { get; set; }

    /// <summary>
    /// Whether the names and BAR counts of the calls are kept (<see cref="Probed"/>, <see cref="Removed"/>,
    /// <see cref="BarsSeenAtProbe"/>). True by default; a benchmark attaching millions of times turns it off
    /// and keeps only the counters.
    /// </summary>
    public bool KeepHistory { get; init; } = true;

    /// <summary>How many times <see cref="Probe"/> was called.</summary>
    public int ProbeCalls => Volatile.Read(ref _probeCalls);

    /// <summary>How many times <see cref="Remove"/> was called.</summary>
    public int RemoveCalls => Volatile.Read(ref _removeCalls);

    /// <summary>The names of the devices probed, one per call, in order (a copy).</summary>
    public IReadOnlyList<string> Probed { get { lock (_gate) return [.. _probed]; } }

    /// <summary>The names of the devices removed, one per call, in order (a copy).</summary>
    public IReadOnlyList<string> Removed { get { lock (_gate) return [.. _removed]; } }

    /// <summary>How many BARs were mapped when <see cref="Probe"/> was called, one per call (a copy).</summary>
    public IReadOnlyList<int> BarsSeenAtProbe { get { lock (_gate) return [.. _barsSeenAtProbe]; } }

    /// <summary>Records the call, then returns what <see cref="OnProbe"/> says.</summary>
    public override bool Probe(PciDevice device)
    {
        Interlocked.Increment(ref _probeCalls);
        if (KeepHistory)
        {
            lock (_gate)
            {
                _probed.Add(device.Name);
                _barsSeenAtProbe.Add(device.Bars.Count);
            }
        }
        return OnProbe(device);
    }

    /// <summary>Records the call, then runs <see cref="OnRemove"/>.</summary>
    public override void Remove(PciDevice device)
    {
        Interlocked.Increment(ref _removeCalls);
        if (KeepHistory)
        {
            lock (_gate)
                _removed.Add(device.Name);
        }
        OnRemove?.Invoke(device);
    }
}
