using BenchmarkDotNet.Attributes;
using Hotplug.Pci;

namespace Hotplug.Benchmarks.Bdn;

/// <summary>
/// A first scan of generated sysfs trees (the same trees the C scanner reads in the figures run):
/// SysfsPciScanner.ScanAll alone and a fresh PciBus's Scan (which also builds the devices).
/// </summary>
[MemoryDiagnoser]
public class ScanBenchmarks
{
    private string _devices = "";

    [Params(256, 1024, 4096)]
    public int Functions { get; set; }

    [GlobalSetup]
    public void Setup() => _devices = SysfsTree.Ensure(Path.Combine(RepoPaths.WorkDir, "sysfs"), Functions);

    [Benchmark(Baseline = true)]
    public int ScannerScanAll() => new SysfsPciScanner(_devices).ScanAll([]).Count;

    [Benchmark]
    public int PciBusScan() => new PciBus(new PciBusOptions { SysfsRoot = _devices, DevRoot = "/nonexistent" }).Scan().Added.Count;
}
