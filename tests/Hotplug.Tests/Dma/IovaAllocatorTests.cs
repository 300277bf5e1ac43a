using Hotplug.Dma;

namespace Hotplug.Tests.Dma;

public class IovaAllocatorTests
{
    private const ulong Mib2 = 2UL << 20;
    private const ulong MsiStart = 0xfee00000, MsiEnd = 0xfeefffff;

    [Fact]
    public void Never_hands_out_address_zero()
    {
        var a = new IovaAllocator(TestDmaMapper.GuestRanges);
        ulong first = a.Allocate(4096, 4096, ulong.MaxValue);
        Assert.NotEqual(0UL, first);
        Assert.True(first >= IovaAllocator.ZeroPageBytes);
        Assert.Equal(0x1000UL, first); // the lowest page above the zero page, first fit
    }

    [Fact]
    public void Small_alignment_still_skips_the_zero_page()
    {
        var a = new IovaAllocator([new IovaRange(0, 0xffff)]);
        Assert.Equal(0x1000UL, a.Allocate(64, 1, ulong.MaxValue));
    }

    [Fact]
    public void Honours_the_alignment()
    {
        var a = new IovaAllocator(TestDmaMapper.GuestRanges);
        ulong small = a.Allocate(4096, 4096, ulong.MaxValue);
        ulong huge = a.Allocate(Mib2, Mib2, ulong.MaxValue);
        Assert.Equal(0x1000UL, small);
        Assert.Equal(0UL, huge % Mib2);
        Assert.Equal(Mib2, huge);
        Assert.Equal(0x2000UL, a.Allocate(4096, 4096, ulong.MaxValue)); // the gap left by the alignment is used first
    }

    [Fact]
    public void Never_hands_out_the_msi_window()
    {
        var a = new IovaAllocator(TestDmaMapper.GuestRanges);
        // Fill the first range up to just below the window, leaving less than 2 MiB there.
        a.Reserve(0x1000, 0xfedfffff - 0x1000 + 1 - 0x1000);
        ulong next = a.Allocate(Mib2, Mib2, ulong.MaxValue);
        Assert.True(next > MsiEnd, $"0x{next:x}");
        Assert.False(next <= MsiEnd && next + Mib2 - 1 >= MsiStart);
        Assert.Equal(0xff000000UL, next); // the first 2 MiB boundary in the second range
        ulong last = a.Allocate(0x1000, 4096, ulong.MaxValue);
        Assert.Equal(0xfedff000UL, last); // the page left just below the window
    }

    [Fact]
    public void Refuses_anything_ending_above_the_dma_mask()
    {
        var a = new IovaAllocator(TestDmaMapper.GuestRanges);
        const ulong mask28 = (1UL << 28) - 1; // edu's default
        ulong iova = a.Allocate(Mib2, Mib2, mask28);
        Assert.True(iova + Mib2 - 1 <= mask28);
        Assert.Equal(Mib2, iova);
        a.Reserve(0x1000, iova - 0x1000); // everything else below the mask
        a.Reserve(iova + Mib2, (1UL << 28) - (iova + Mib2));
        var e = Assert.Throws<DmaException>(() => a.Allocate(4096, 4096, mask28));
        Assert.Contains("no usable IOVA range below the DMA mask 0xfffffff", e.Message);
        Assert.NotEqual(0UL, a.Allocate(4096, 4096, ulong.MaxValue)); // the space above the mask is still there
    }

    [Fact]
    public void A_mask_below_every_range_names_the_mask()
    {
        var a = new IovaAllocator([new IovaRange(0x100000000, 0x1ffffffff)]);
        var e = Assert.Throws<DmaException>(() => a.Allocate(4096, 4096, 0xffffffff));
        Assert.Contains("below the DMA mask 0xffffffff", e.Message);
    }

    [Fact]
    public void Exhaustion_throws_a_dma_exception()
    {
        var a = new IovaAllocator([new IovaRange(0, 0x3fff)]);
        Assert.Equal(0x1000UL, a.Allocate(0x3000, 4096, ulong.MaxValue));
        var e = Assert.Throws<DmaException>(() => a.Allocate(4096, 4096, ulong.MaxValue));
        Assert.Contains("exhausted", e.Message);
    }

    [Fact]
    public void Freed_space_is_merged_and_used_again()
    {
        var a = new IovaAllocator([new IovaRange(0, 0xffffff)]);
        ulong x = a.Allocate(0x1000, 4096, ulong.MaxValue), y = a.Allocate(0x1000, 4096, ulong.MaxValue), z = a.Allocate(0x1000, 4096, ulong.MaxValue);
        a.Free(y, 0x1000);
        a.Free(x, 0x1000);
        a.Free(z, 0x1000);
        Assert.Equal([new IovaRange(0x1000, 0xffffff)], a.FreeRanges);
        Assert.Equal(0x1000UL, a.Allocate(0x3000, 4096, ulong.MaxValue));
    }

    [Fact]
    public void Reserve_takes_a_known_address_and_free_gives_it_back()
    {
        var a = new IovaAllocator(TestDmaMapper.GuestRanges);
        a.Reserve(0x200000, Mib2); // replaying a region at its old IOVA
        Assert.Throws<DmaException>(() => a.Reserve(0x200000, 4096)); // taken
        Assert.Throws<DmaException>(() => a.Reserve(MsiStart, 4096)); // the MSI window is never usable
        Assert.Throws<DmaException>(() => a.Reserve(0, 4096)); // nor the zero page
        Assert.Equal(0x1000UL, a.Allocate(4096, 4096, ulong.MaxValue));
        Assert.Equal(0x400000UL, a.Allocate(Mib2, Mib2, ulong.MaxValue));
        a.Free(0x200000, Mib2);
        Assert.Equal(0x200000UL, a.Allocate(Mib2, Mib2, ulong.MaxValue));
    }

    [Fact]
    public void Freeing_twice_or_outside_the_ranges_throws()
    {
        var a = new IovaAllocator(TestDmaMapper.GuestRanges);
        ulong x = a.Allocate(4096, 4096, ulong.MaxValue);
        a.Free(x, 4096);
        Assert.Throws<InvalidOperationException>(() => a.Free(x, 4096));
        Assert.Throws<InvalidOperationException>(() => a.Free(MsiStart, 4096));
    }

    [Fact]
    public void Alignment_must_be_a_power_of_two_and_length_non_zero()
    {
        var a = new IovaAllocator(TestDmaMapper.GuestRanges);
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Allocate(4096, 3000, ulong.MaxValue));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Allocate(0, 4096, ulong.MaxValue));
    }

    [Fact]
    public void Overlapping_usable_ranges_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new IovaAllocator([new IovaRange(0, 0x2000), new IovaRange(0x1000, 0x3000)]));
    }

    [Theory]
    [InlineData(0x7f0000200000L, 0x200000UL, 0x200000UL)]
    [InlineData(0x7f0000201000L, 0x1000UL, 0x1000UL)]
    [InlineData(0x7f0000400000L, 0x800000UL, 0x200000UL)] // capped at a hugepage
    [InlineData(0x7f0000200040L, 0x40UL, 0x1000UL)] // at least a page
    public void Natural_alignment_follows_the_virtual_address(long va, ulong length, ulong expected)
    {
        Assert.Equal(expected, IovaAllocator.NaturalAlignment((nint)va, length));
    }
}
