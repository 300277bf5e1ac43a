using Hotplug.Dma;

namespace Hotplug.Tests.Dma;

public class DmaPoolTests
{
    [Fact]
    public void Rents_distinct_buffers_until_exhausted_then_names_the_count()
    {
        using var a = DmaAllocatorTests.Create(new TestDmaMapper());
        using var pool = a.CreatePool(2048, 8);
        var rented = Enumerable.Range(0, 8).Select(_ => pool.Rent()).ToList();
        Assert.Equal(8, rented.Select(b => b.Pointer).Distinct().Count());
        Assert.All(rented, b => Assert.Equal(2048UL, b.Length));
        Assert.All(rented, b => Assert.Equal(0UL, b.Iova % 64));
        var e = Assert.Throws<DmaException>(() => pool.Rent());
        Assert.Contains("all 8 buffers", e.Message);
        Assert.False(pool.TryRent(out var none));
        Assert.Null(none);
        rented.ForEach(pool.Return);
    }

    [Fact]
    public void A_returned_buffer_is_rented_again()
    {
        using var a = DmaAllocatorTests.Create(new TestDmaMapper());
        using var pool = a.CreatePool(512, 2);
        var b = pool.Rent();
        pool.Return(b);
        Assert.Throws<ObjectDisposedException>(() => b.Span.Length);
        Assert.Same(b, pool.Rent());
        Assert.Equal(512, b.Span.Length);
        b.Dispose(); // disposing returns it
        b.Dispose();
        Assert.Equal(2, pool.Available);
    }

    [Fact]
    public void Returning_twice_or_to_the_wrong_pool_throws()
    {
        using var a = DmaAllocatorTests.Create(new TestDmaMapper());
        using var pool = a.CreatePool(512, 2);
        using var other = a.CreatePool(512, 2);
        var b = pool.Rent();
        Assert.Throws<ArgumentException>(() => other.Return(b));
        pool.Return(b);
        Assert.Throws<InvalidOperationException>(() => pool.Return(b));
        using var plain = a.Allocate(512);
        Assert.Throws<ArgumentException>(() => pool.Return(plain));
    }

    [Fact]
    public void A_pool_larger_than_a_chunk_spans_chunks_with_contiguous_buffers()
    {
        using var a = DmaAllocatorTests.Create(new TestDmaMapper());
        using var pool = a.CreatePool(4096, 1200); // 4.7 MiB in 2 MiB chunks
        Assert.True(a.Regions.Count >= 3);
        var all = Enumerable.Range(0, 1200).Select(_ => pool.Rent()).ToList();
        Assert.All(all, b => Assert.Equal(0UL, (ulong)b.Pointer % 4096)); // page-sized buffers are page aligned
        Assert.All(all, b => Assert.Equal(0UL, b.Iova % 4096));
        Assert.All(all, b => Assert.Single(a.Regions, r => b.Pointer >= r.VirtualAddress && (ulong)(b.Pointer - r.VirtualAddress) + 4096 <= r.Length));
        Assert.Equal(1200, all.Select(b => b.Iova).Distinct().Count());
        all.ForEach(b => b.Dispose());
    }

    [Fact]
    public void Rent_and_return_allocate_nothing_in_steady_state()
    {
        using var a = DmaAllocatorTests.Create(new TestDmaMapper());
        using var pool = a.CreatePool(256, 4);
        for (int i = 0; i < 100; i++)
            pool.Return(pool.Rent()); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            var b = pool.Rent();
            b.Span[0] = 1;
            _ = b.IovaOf(1);
            pool.Return(b);
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public void The_pool_must_be_disposed_before_its_allocator_and_refuses_while_rented()
    {
        var a = DmaAllocatorTests.Create(new TestDmaMapper());
        var pool = a.CreatePool(256, 4);
        var b = pool.Rent();
        Assert.Contains("1 live pool", Assert.Throws<InvalidOperationException>(() => a.Dispose()).Message);
        Assert.Contains("1 of the DMA pool's 4 buffers are rented", Assert.Throws<InvalidOperationException>(() => pool.Dispose()).Message);
        pool.Return(b);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
        Assert.Equal(0, a.LiveBuffers);
        a.Dispose();
    }
}
