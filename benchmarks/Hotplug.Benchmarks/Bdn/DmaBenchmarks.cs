using BenchmarkDotNet.Attributes;
using Hotplug.Benchmarks.Dma;
using Hotplug.Dma;

namespace Hotplug.Benchmarks.Bdn;

/// <summary>
/// The DMA fast paths on an allocator with the benchmark mapper (real locked 4 KiB pages, IOVAs from the guest's
/// vIOMMU ranges, no ioctl): DmaPool Rent + Return of a 2 KiB buffer (target: 0 bytes allocated per op),
/// DmaBuffer.IovaOf (the translation), and DmaAllocator.Allocate(2048) + Dispose.
/// </summary>
[MemoryDiagnoser]
public class DmaBenchmarks
{
    private DmaAllocator? _allocator;
    private DmaPool? _pool;
    private DmaBuffer? _buffer;
    private ulong _offset = 1000;

    [GlobalSetup]
    public void Setup()
    {
        _allocator = BenchDmaMapper.NewAllocator();
        _pool = _allocator.CreatePool(2048, 64);
        _buffer = _allocator.Allocate(2048);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _buffer?.Dispose();
        _pool?.Dispose();
        _allocator?.Dispose();
    }

    [Benchmark]
    public nint PoolRentReturn()
    {
        var b = _pool!.Rent();
        nint p = b.Pointer;
        _pool.Return(b);
        return p;
    }

    [Benchmark(OperationsPerInvoke = 1024)]
    public ulong IovaOf()
    {
        var b = _buffer!;
        ulong sum = 0;
        ulong off = _offset;
        for (int i = 0; i < 1024; i++)
            sum += b.IovaOf((off + (ulong)i) & 2047);
        return sum;
    }

    [Benchmark]
    public nint AllocateDispose2K()
    {
        var b = _allocator!.Allocate(2048);
        nint p = b.Pointer;
        b.Dispose();
        return p;
    }
}
