using BenchmarkDotNet.Attributes;
using Hotplug.Benchmarks.Figures;
using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;

namespace Hotplug.Benchmarks.Bdn;

/// <summary>
/// BAR reads when nothing goes wrong: MappedBar.Read32 against the raw MappedBar.Pointer, with hotplug
/// handling (the SIGBUS handler) on and off. One operation = one 32-bit read (1,024 per invocation).
/// Target: Accessor / RawPointer &lt;= 1.02, no allocations.
/// </summary>
[MemoryDiagnoser]
public class DataPathBenchmarks
{
    private SimulatedPciBus? _sim;
    private SimulatedPciDevice? _dev;
    private Eal? _eal;
    private MappedBar? _bar;

    [Params(true, false)]
    public bool HotplugHandling { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _sim = SimulatedPciBus.Create(FaultFigures.FastTempDir());
        _dev = _sim.AddDevice("0000:01:00.0", 0x1234, 0x11e8, [1UL << 20]);
        _eal = PciEal.Create(_sim.CreateOptions(), null);
        _eal.Pci().RegisterDriver(new SimulatedDriver("bench", new PciId(0x1234, 0x11e8)) { KeepHistory = false });
        if (HotplugHandling)
            _eal.EnableHotplugHandling();
        _bar = ((PciDevice)_eal.HotplugAdd("pci", "0000:01:00.0")).Bar(0);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _eal?.Dispose();
        _dev?.Dispose();
        _sim?.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = 1024)]
    public uint RawPointer() => DataPathFigure.RawPointer(_bar!.Pointer);

    [Benchmark(OperationsPerInvoke = 1024)]
    public uint Accessor() => DataPathFigure.Accessor(_bar!);
}
