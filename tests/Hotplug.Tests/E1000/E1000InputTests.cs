using Hotplug.E1000;

namespace Hotplug.Tests.E1000;

/// <summary>Bad input fails at once with a clear exception, and the data path allocates nothing.</summary>
public sealed class E1000InputTests(ITestOutputHelper output) : E1000TestBase(output)
{
    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(12)]
    [InlineData(8192)]
    public void Ring_sizes_that_are_not_a_multiple_of_8_in_range_are_refused_before_the_nic_is_touched(int size)
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        Assert.Throws<ArgumentOutOfRangeException>(() => E1000Port.Attach(dev, dma, new E1000PortOptions { RxRingSize = size }));
        Assert.Throws<ArgumentOutOfRangeException>(() => E1000Port.Attach(dev, dma, new E1000PortOptions { TxRingSize = size }));
        Assert.Equal(0, fake.Resets);
        Assert.Equal(0, dma.LiveBuffers);
    }

    [Fact]
    public void A_pool_too_small_or_with_small_buffers_is_refused_and_gives_everything_back()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        Assert.Throws<ArgumentOutOfRangeException>(() => E1000Port.Attach(dev, dma, new E1000PortOptions { RxRingSize = 64, PoolSize = 32 }));
        using var small = PacketPool.Create(dma, 256, 1024);
        Assert.Throws<ArgumentException>(() => E1000Port.Attach(dev, dma, new E1000PortOptions { Pool = small }));
        using var few = PacketPool.Create(dma, 16);
        Assert.Throws<ArgumentException>(() => E1000Port.Attach(dev, dma, new E1000PortOptions { Pool = few, RxRingSize = 32 }));
        Assert.Equal(few.Count, few.Available);
    }

    [Fact]
    public void Packets_check_their_length_their_pool_and_double_frees()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        using var pool = PacketPool.Create(dma, 8);
        using var other = PacketPool.Create(dma, 8);
        Assert.True(pool.TryAlloc(out var p));
        Assert.Throws<ArgumentOutOfRangeException>(() => p.Length = 2049);
        Assert.Throws<ArgumentOutOfRangeException>(() => p.Length = -1);
        p.Length = 2048;
        Assert.Equal(2048, p.Data.Length);
        Assert.Throws<ArgumentException>(() => other.Free(p));
        Assert.Throws<InvalidOperationException>(() => default(Packet).Free());
        p.Free();
        Assert.Throws<InvalidOperationException>(() => p.Free());
        Assert.Throws<ArgumentOutOfRangeException>(() => PacketPool.Create(dma, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => PacketPool.Create(dma, 8, 70_000));
        var held = new Packet[8];
        Assert.Equal(8, pool.AllocBulk(held));
        Assert.False(pool.TryAlloc(out var none));
        Assert.True(none.IsNull);
        Assert.Throws<InvalidOperationException>(() => pool.Dispose());
        pool.FreeBulk(held);
    }

    [Fact]
    public void A_burst_with_a_null_or_empty_packet_sends_nothing()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma);
        var burst = new Packet[3];
        Assert.Equal(2, port.Pool.AllocBulk(burst.AsSpan(0, 2)));
        burst[0].Length = 60;
        burst[1].Length = 60;
        Assert.Throws<ArgumentException>(() => port.TransmitBurst(burst)); // burst[2] is default(Packet)
        burst[1].Length = 0;
        Assert.Throws<ArgumentException>(() => port.TransmitBurst(burst.AsSpan(0, 2)));
        Assert.Equal(0L, port.Stats.TxPackets);
        Assert.True(fake.Sent.IsEmpty);
        port.Pool.FreeBulk(burst.AsSpan(0, 2));
    }

    [Fact]
    public void Receive_and_transmit_bursts_allocate_nothing()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma, new E1000PortOptions { RxRingSize = 128, TxRingSize = 128, PoolSize = 512 });
        const int Warm = 300, Measured = 1000;
        for (int i = 0; i < Warm + Measured; i++)
            fake.Inject(Frame(FakeE1000.DefaultMac, i));
        var burst = new Packet[32];
        int Forward(int target)
        {
            int done = 0;
            var deadline = DateTime.UtcNow.Ticks + TimeSpan.FromMinutes(1).Ticks; // a hang guard, not a timing assertion
            while (done < target && DateTime.UtcNow.Ticks < deadline)
            {
                int n = port.ReceiveBurst(burst.AsSpan(0, Math.Min(burst.Length, target - done)));
                int sent = 0;
                while (sent < n && DateTime.UtcNow.Ticks < deadline)
                    sent += port.TransmitBurst(burst.AsSpan(sent, n - sent));
                done += n;
            }
            return done;
        }
        Assert.Equal(Warm, Forward(Warm));
        long before = GC.GetAllocatedBytesForCurrentThread();
        int forwarded = Forward(Measured);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(Measured, forwarded);
        Assert.Equal(0, allocated);
        WaitSent(fake, Warm + Measured);
    }
}
