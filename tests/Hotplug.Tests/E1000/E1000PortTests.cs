using Hotplug.E1000;

namespace Hotplug.Tests.E1000;

/// <summary>The 82540EM driver against <see cref="FakeE1000"/> on a simulated device (the real NIC is in the Vm tier).</summary>
public sealed class E1000PortTests(ITestOutputHelper output) : E1000TestBase(output)
{
    [Fact]
    public void Attach_resets_reads_the_mac_sets_link_up_and_programs_both_rings()
    {
        var (driver, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma, new E1000PortOptions { RxRingSize = 64, TxRingSize = 32 });
        Assert.Same(port, driver.PortOf(dev));
        Assert.Equal(1, fake.Resets);
        Assert.Equal("52:54:00:12:34:56", port.MacString);
        Assert.Equal(new E1000LinkStatus(true, 1000, true), port.Link);
        Assert.Equal(0xFFFFFFFFu, fake.R(0xD8) | 0); // IMC: every interrupt masked
        Assert.Equal(64u * 16, fake.R(0x2808));
        Assert.Equal(63u, fake.R(0x2818)); // RDT: all but one descriptor belong to the NIC
        Assert.Equal(32u * 16, fake.R(0x3808));
        uint rctl = fake.R(0x100);
        Assert.Equal((2u, 1u << 15, 1u << 26, 0u), (rctl & 2, rctl & (1u << 15), rctl & (1u << 26), rctl & (3u << 3))); // EN, BAM, SECRC, not promiscuous
        Assert.Equal(2u, fake.R(0x400) & 2); // TCTL.EN
        Assert.Equal(1u << 6, fake.R(0x00) & (1u << 6)); // CTRL.SLU
        Assert.Equal(port.Pool.Count - 64, port.Pool.Available);
    }

    [Fact]
    public void The_mac_comes_from_the_eeprom_when_rah0_is_not_valid_and_is_written_back()
    {
        var (_, dev, dma, fake) = Setup(macInEepromOnly: true);
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma);
        Assert.Equal("52:54:00:12:34:56", port.MacString);
        Assert.Equal(3, fake.EepromReads);
        Assert.Equal(0x12005452u, fake.R(0x5400));
        Assert.Equal(0x80005634u, fake.R(0x5404));
    }

    [Fact]
    public async Task Link_follows_status_and_wait_for_link_returns_when_it_comes_up()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma);
        fake.LinkUp = false;
        Assert.False(port.Link.IsUp);
        Assert.False(port.WaitForLink(TimeSpan.FromMilliseconds(20)));
        var up = Task.Run(() => port.WaitForLink(Soon));
        await Task.Delay(20);
        fake.LinkUp = true;
        Assert.True(await up.WaitAsync(Soon));
    }

    [Fact]
    public void Receive_burst_hands_out_the_frames_in_order_with_their_bytes_and_counts_them()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma, new E1000PortOptions { RxRingSize = 64 });
        var sent = Enumerable.Range(0, 40).Select(i => Frame(FakeE1000.DefaultMac, i, 60 + i * 30)).ToList();
        sent.ForEach(fake.Inject);
        var got = ReceiveAll(port, 40, burst: 7);
        Assert.Equal(sent.Count, got.Count);
        for (int i = 0; i < sent.Count; i++)
            Assert.Equal(sent[i], got[i]);
        var s = port.Stats;
        Assert.Equal((40L, sent.Sum(f => (long)f.Length), 0L), (s.RxPackets, s.RxBytes, s.RxErrors));
        Assert.Equal(port.Pool.Count - 64 - port.RxSpares, port.Pool.Available); // every buffer handed out came back; the ring is full again
    }

    [Fact]
    public void Transmit_burst_sends_the_frames_and_their_buffers_return_once_written_back()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma, new E1000PortOptions { TxRingSize = 64 });
        int before = port.Pool.Available;
        var burst = new Packet[10];
        Assert.Equal(10, port.Pool.AllocBulk(burst));
        for (int i = 0; i < burst.Length; i++)
        {
            var f = Frame([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], i, 100 + i);
            f.CopyTo(burst[i].Buffer);
            burst[i].Length = f.Length;
        }
        Assert.Equal(10, port.TransmitBurst(burst));
        var sent = WaitSent(fake, 10);
        Assert.Equal(Enumerable.Range(0, 10), sent.Select(f => SeqOf(f)));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => 100 + i), sent.Select(f => f.Length));
        var deadline = DateTime.UtcNow + Soon;
        while (port.ReclaimTransmitted() > 0)
            Assert.True(DateTime.UtcNow < deadline, "the written-back descriptors were not reclaimed");
        Assert.Equal(before, port.Pool.Available);
        Assert.Equal((10L, (long)Enumerable.Range(0, 10).Sum(i => 100 + i)), (port.Stats.TxPackets, port.Stats.TxBytes));
    }

    [Fact]
    public void Both_rings_wrap_around_many_times_and_a_full_transmit_ring_takes_only_what_fits()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma, new E1000PortOptions { RxRingSize = 8, TxRingSize = 8, PoolSize = 64 });
        const int Frames = 8 * 12 + 5;
        for (int i = 0; i < Frames; i++)
            fake.Inject(Frame(FakeE1000.DefaultMac, i));
        var got = ReceiveAll(port, Frames, burst: 3);
        Assert.Equal(Enumerable.Range(0, Frames), got.Select(f => SeqOf(f)));

        fake.Paused = true; // nothing is written back: the ring fills
        var burst = new Packet[10];
        Assert.Equal(10, port.Pool.AllocBulk(burst));
        foreach (var p in burst)
            p.Length = 60;
        Assert.Equal(7, port.TransmitBurst(burst)); // 8 descriptors, one always empty
        Assert.Equal(0, port.TransmitBurst(burst.AsSpan(7)));
        Assert.Equal(3 + 3, port.Stats.TxRingFull);
        port.Pool.FreeBulk(burst.AsSpan(7));
        fake.Paused = false;
        int sentSoFar = WaitSent(fake, 7).Count;
        for (int round = 0; round < 12; round++)
        {
            var more = new Packet[5];
            Assert.Equal(5, port.Pool.AllocBulk(more));
            for (int i = 0; i < 5; i++)
            {
                Frame(FakeE1000.DefaultMac, 1000 + round * 5 + i).CopyTo(more[i].Buffer);
                more[i].Length = 64;
            }
            int taken = 0;
            var deadline = DateTime.UtcNow + Soon;
            while (taken < 5)
            {
                taken += port.TransmitBurst(more.AsSpan(taken));
                Assert.True(DateTime.UtcNow < deadline, "the transmit ring never drained");
            }
            sentSoFar += 5;
        }
        var sent = WaitSent(fake, sentSoFar);
        Assert.Equal(Enumerable.Range(1000, 60), sent.Skip(7).Select(f => SeqOf(f)));
    }

    [Fact]
    public void Promiscuous_mode_lets_frames_to_other_macs_in_and_broadcast_is_accepted()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma);
        byte[] other = [0x52, 0x54, 0x00, 0x99, 0x99, 0x99];
        fake.Inject(Frame(other, 1));
        fake.Inject(Frame([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], 2));
        Assert.Equal([2], ReceiveAll(port, 1).Select(f => SeqOf(f)));
        port.Promiscuous = true;
        Assert.Equal(3u << 3, fake.R(0x100) & (3u << 3));
        fake.Inject(Frame(other, 3));
        Assert.Equal([3], ReceiveAll(port, 1).Select(f => SeqOf(f)));
    }

    [Fact]
    public void Frames_with_errors_or_longer_than_a_buffer_are_dropped_and_counted_and_the_next_frame_arrives()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma);
        fake.ErrorNext = true;
        fake.Inject(Frame(FakeE1000.DefaultMac, 1));
        fake.Inject(Frame(FakeE1000.DefaultMac, 2, 3000)); // spans two buffers (no LPE on a real NIC; the driver drops both parts)
        fake.Inject(Frame(FakeE1000.DefaultMac, 3));
        Assert.Equal([3], ReceiveAll(port, 1).Select(f => SeqOf(f)));
        Assert.Equal((1L, 3L), (port.Stats.RxPackets, port.Stats.RxErrors));
    }
}
