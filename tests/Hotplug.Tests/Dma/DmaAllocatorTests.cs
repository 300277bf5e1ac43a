using Hotplug.Dma;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotplug.Tests.Dma;

public class DmaAllocatorTests
{
    private const ulong Mib2 = 2UL << 20;

    internal static DmaAllocator Create(TestDmaMapper mapper, DmaOptions? options = null) =>
        new(mapper, options ?? new DmaOptions(), NullLogger.Instance);

    private static DmaRegion RegionOf(DmaAllocator a, DmaBuffer b) =>
        a.Regions.Single(r => b.Pointer >= r.VirtualAddress && (ulong)(b.Pointer - r.VirtualAddress) + b.Length <= r.Length);

    [Fact]
    public void Buffers_do_not_overlap_and_iova_is_chunk_iova_plus_offset()
    {
        var mapper = new TestDmaMapper();
        using var a = Create(mapper);
        ulong[] sizes = [1, 64, 100, 4096, 4000, 65536, 300_000, 7, 1 << 20];
        var buffers = sizes.Select(s => a.Allocate(s)).ToList();
        foreach (var b in buffers)
        {
            var r = RegionOf(a, b);
            Assert.Equal(r.Iova + (ulong)(b.Pointer - r.VirtualAddress), b.Iova);
            Assert.Equal(b.Iova + b.Length - 1, b.IovaOf(b.Length - 1));
        }
        for (int i = 0; i < buffers.Count; i++)
            for (int j = i + 1; j < buffers.Count; j++)
            {
                Assert.False(Overlaps((ulong)buffers[i].Pointer, buffers[i].Length, (ulong)buffers[j].Pointer, buffers[j].Length), $"VA {i} {j}");
                Assert.False(Overlaps(buffers[i].Iova, buffers[i].Length, buffers[j].Iova, buffers[j].Length), $"IOVA {i} {j}");
            }
        Assert.Equal(a.Regions.Count, mapper.Mapped.Count); // each chunk mapped once
        Assert.All(a.Regions, r => Assert.NotEqual(0UL, r.Iova));
        buffers.ForEach(b => b.Dispose());
    }

    private static bool Overlaps(ulong a, ulong al, ulong b, ulong bl) => a < b + bl && b < a + al;

    [Theory]
    [InlineData(64UL)]
    [InlineData(256UL)]
    [InlineData(4096UL)]
    public void Buffers_are_aligned_in_memory_and_on_the_device(ulong alignment)
    {
        using var a = Create(new TestDmaMapper());
        using var first = a.Allocate(1);
        using var b = a.Allocate(100, alignment);
        Assert.Equal(0UL, (ulong)b.Pointer % alignment);
        Assert.Equal(0UL, b.Iova % alignment);
    }

    [Fact]
    public void Alignment_must_be_a_power_of_two()
    {
        using var a = Create(new TestDmaMapper());
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Allocate(64, 48));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Allocate(0));
    }

    [Fact]
    public void A_buffer_larger_than_a_chunk_gets_its_own_chunk_released_with_it()
    {
        var mapper = new TestDmaMapper();
        using var a = Create(mapper);
        using var small = a.Allocate(4096);
        var big = a.Allocate(5UL << 20);
        var r = RegionOf(a, big);
        Assert.True(r.Length >= 5UL << 20 && r.Length % r.PageSize == 0);
        Assert.Equal(r.Iova, big.Iova);
        Assert.Equal(2, a.Regions.Count);
        big.Span[^1] = 0xaa; // all of it is there
        big.Dispose();
        Assert.Single(a.Regions);
        Assert.Contains(mapper.Unmapped, u => u.Iova == r.Iova && u.Length == r.Length);
    }

    [Fact]
    public void Memory_is_zeroed_also_when_handed_out_again()
    {
        using var a = Create(new TestDmaMapper());
        var b = a.Allocate(8192);
        Assert.True(b.Span.IndexOfAnyExcept((byte)0) < 0);
        b.Span.Fill(0x5a);
        nint p = b.Pointer;
        b.Dispose();
        using var again = a.Allocate(8192);
        Assert.Equal(p, again.Pointer); // first fit: the same space
        Assert.True(again.Span.IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void A_buffer_used_after_dispose_throws_and_dispose_is_idempotent()
    {
        using var a = Create(new TestDmaMapper());
        var b = a.Allocate(64);
        b.Dispose();
        b.Dispose();
        Assert.True(b.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => b.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => b.IovaOf(0));
        Assert.Equal(0, a.LiveBuffers);
    }

    [Fact]
    public void Iova_of_checks_bounds()
    {
        using var a = Create(new TestDmaMapper());
        using var b = a.Allocate(100);
        Assert.Equal(b.Iova + 99, b.IovaOf(99));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.IovaOf(100));
    }

    [Fact]
    public void Disposing_the_allocator_with_live_buffers_throws_unless_forced()
    {
        var mapper = new TestDmaMapper();
        var a = Create(mapper);
        var b = a.Allocate(64);
        var e = Assert.Throws<InvalidOperationException>(() => a.Dispose());
        Assert.Contains("1 live allocation", e.Message);
        a.Dispose(force: true);
        Assert.Throws<ObjectDisposedException>(() => b.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => a.Allocate(64));
        b.Dispose(); // harmless after a forced dispose
        Assert.Equal(mapper.Mapped.Count, mapper.Unmapped.Count);
        Assert.Empty(a.Regions);
    }

    [Fact]
    public void Dispose_unmaps_every_chunk_through_the_mapper()
    {
        var mapper = new TestDmaMapper();
        var a = Create(mapper);
        a.Allocate(64).Dispose();
        a.Allocate(3UL << 20).Dispose(); // a dedicated chunk, released at once
        var regions = a.Regions;
        a.Dispose();
        Assert.Equal(mapper.Mapped.Count, mapper.Unmapped.Count);
        Assert.Equal(regions.Select(r => r.Iova), mapper.Unmapped.Skip(1).Select(u => u.Iova));
    }

    [Fact]
    public void Every_chunk_is_madv_dontfork()
    {
        using var a = Create(new TestDmaMapper());
        using var b = a.Allocate(64);
        string start = $"{(ulong)a.Regions[0].VirtualAddress:x}-";
        string[] smaps = File.ReadAllLines("/proc/self/smaps");
        int at = Array.FindIndex(smaps, l => l.StartsWith(start, StringComparison.Ordinal));
        Assert.True(at >= 0, "the chunk is in /proc/self/smaps");
        string flags = smaps.Skip(at + 1).First(l => l.StartsWith("VmFlags:", StringComparison.Ordinal));
        Assert.Contains(" dc", flags); // man 5 proc: dc = do not copy area on fork
    }

    [Fact]
    public void Falls_back_to_locked_small_pages_when_the_mapper_accepts_them()
    {
        using var a = Create(new TestDmaMapper(), new DmaOptions { TryHugePages = false });
        using var b = a.Allocate(64);
        var r = Assert.Single(a.Regions);
        Assert.Equal(4096UL, r.PageSize);
        Assert.Equal(Mib2, r.Length);
        Assert.Equal(Mib2, a.TotalBytes);
    }

    [Fact]
    public void On_this_host_uses_hugepages_if_reserved_else_small_pages()
    {
        using var a = Create(new TestDmaMapper());
        using var b = a.Allocate(64);
        bool hugeFree = File.ReadAllLines("/proc/meminfo").Any(l => l.StartsWith("HugePages_Free:", StringComparison.Ordinal) && l.Split(':')[1].Trim() != "0");
        Assert.Equal(hugeFree ? Mib2 : 4096UL, a.Regions[0].PageSize);
    }

    [Fact]
    public void A_mapper_that_needs_hugepages_gets_a_reserve_hugepages_error()
    {
        using var a = Create(new TestDmaMapper(acceptsSmallPages: false), new DmaOptions { TryHugePages = false });
        var e = Assert.Throws<DmaException>(() => a.Allocate(64));
        Assert.Contains("reserve hugepages: hugepages=N on the kernel command line or echo N > /proc/sys/vm/nr_hugepages", e.Message);
        Assert.Contains("physically contiguous", e.Message);
        Assert.Empty(a.Regions);
    }

    [Fact]
    public void Small_pages_can_be_turned_off()
    {
        using var a = Create(new TestDmaMapper(), new DmaOptions { TryHugePages = false, AllowSmallPages = false });
        var e = Assert.Throws<DmaException>(() => a.Allocate(64));
        Assert.Contains("AllowSmallPages", e.Message);
        Assert.Contains("reserve hugepages", e.Message);
    }

    [Fact]
    public void A_chunk_above_the_dma_mask_is_refused()
    {
        var mapper = new TestDmaMapper();
        using var a = Create(mapper, new DmaOptions { DmaMask = 0x1fffff });
        var e = Assert.Throws<DmaException>(() => a.Allocate(64)); // the test mapper puts 2 MiB at 0x200000 or 0x1000-0x200fff
        Assert.Contains("above the DMA mask 0x1fffff", e.Message);
        Assert.Equal(mapper.Mapped.Count, mapper.Unmapped.Count);
    }

    [Fact]
    public void Regions_can_be_replayed_at_the_same_iovas()
    {
        var mapper = new TestDmaMapper();
        using var a = Create(mapper);
        using var b1 = a.Allocate(64);
        using var b2 = a.Allocate(3UL << 20);
        var fresh = new IovaAllocator(TestDmaMapper.GuestRanges); // a new container after re-attach
        foreach (var r in a.Regions)
            fresh.Reserve(r.Iova, r.Length);
        Assert.Equal(2, a.Regions.Count);
    }
}
