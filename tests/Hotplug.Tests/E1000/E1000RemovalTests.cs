using Hotplug.E1000;

namespace Hotplug.Tests.E1000;

/// <summary>A port whose NIC goes away: bursts return 0, dead registers are never read as packets or link, nothing throws but ObjectDisposedException after Dispose.</summary>
public sealed class E1000RemovalTests(ITestOutputHelper output) : E1000TestBase(output)
{
    private static Packet[] Frames(E1000Port port, int count)
    {
        var burst = new Packet[count];
        Assert.Equal(count, port.Pool.AllocBulk(burst));
        foreach (var p in burst)
        {
            Frame(FakeE1000.DefaultMac, p.Index).CopyTo(p.Buffer);
            p.Length = 64;
        }
        return burst;
    }

    [Fact]
    public void After_a_surprise_removal_bursts_return_zero_the_link_reads_down_and_no_buffer_leaves_the_pool()
    {
        var (_, dev, dma, fake) = Setup(handling: true);
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma, new E1000PortOptions { RxRingSize = 32, TxRingSize = 32 });
        fake.Inject(Frame(FakeE1000.DefaultMac, 1));
        Assert.Single(ReceiveAll(port, 1));
        fake.Paused = true; // frames now stay in the rings, as on a NIC that is pulled mid-traffic
        var pending = Frames(port, 5);
        Assert.Equal(5, port.TransmitBurst(pending));

        _sim.Devices[0].Remove(); // the BAR memory goes: the next access is a real SIGBUS, remapped to all-ones
        Assert.Equal(E1000LinkStatus.Down, port.Link); // STATUS reads 0xFFFFFFFF, whose LU bit must not mean "up"
        Assert.True(port.IsRemoved);
        var rx = new Packet[32];
        var tx = Frames(port, 4);
        int available = port.Pool.Available;
        for (int i = 0; i < 10_000; i++)
        {
            Assert.Equal(0, port.ReceiveBurst(rx));
            Assert.Equal(0, port.TransmitBurst(tx));
        }
        Assert.All(rx, p => Assert.True(p.IsNull));
        Assert.Equal(available, port.Pool.Available);
        port.Pool.FreeBulk(tx);
        Assert.Equal(0, port.ReclaimTransmitted() - 5); // what was in flight stays in flight: nothing was read back from the dead NIC
    }

    [Fact]
    public void A_removal_noticed_only_by_the_idle_check_stops_the_bursts()
    {
        var (_, dev, dma, fake) = Setup(handling: true);
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma);
        _sim.Devices[0].FailBars();
        uint dead = dev.Bar(0).Read32(0x08); // someone touches the BAR: SIGBUS, remapped
        Assert.Equal((0xFFFFFFFFu, true), (dead, dev.Bar(0).IsRemapped));
        var rx = new Packet[8];
        int polls = 0;
        while (!port.IsRemoved)
        {
            Assert.Equal(0, port.ReceiveBurst(rx));
            Assert.True(++polls <= 100_000, "the idle check never noticed the remapped BAR");
        }
        Assert.Equal(0, port.ReceiveBurst(rx));
    }

    [Fact]
    public void Driver_remove_marks_the_port_removed_and_dispose_then_touches_no_register()
    {
        var (driver, dev, dma, fake) = Setup();
        using var _ = fake;
        using var pool = PacketPool.Create(dma, 256);
        var port = E1000Port.Attach(dev, dma, new E1000PortOptions { Pool = pool, RxRingSize = 64 });
        var held = Frames(port, 3);
        Assert.Equal(3, port.TransmitBurst(held));
        fake.Paused = true;
        driver.Remove(dev);
        Assert.True(port.IsRemoved);
        Assert.Null(driver.PortOf(dev));
        Assert.Equal(0, port.ReceiveBurst(new Packet[4]));
        uint rctl = fake.R(0x100);
        port.Dispose();
        Assert.Equal(rctl, fake.R(0x100)); // a removed NIC is not written to
        Assert.Equal(pool.Count, pool.Available); // every buffer (ring, spares, in flight) is back in the shared pool
        Assert.Throws<ObjectDisposedException>(() => port.ReceiveBurst(new Packet[4]));
        Assert.Throws<ObjectDisposedException>(() => port.TransmitBurst(new Packet[1]));
        port.Dispose();
    }

    [Fact]
    public void Quiesce_stops_receive_and_transmit_and_clears_bus_mastering()
    {
        var (driver, dev, dma, fake) = Setup();
        using var _ = fake;
        using var port = E1000Port.Attach(dev, dma);
        _sim.Devices[0].WriteAttribute("config", new string('\0', 63)); // 64 bytes of config space in the fake sysfs tree
        dev.Config.EnableBusMastering();
        Assert.Equal(PciConfigSpace.CommandBusMaster, dev.Config.Read16(PciConfigSpace.CommandOffset) & PciConfigSpace.CommandBusMaster);
        driver.Quiesce(dev);
        Assert.Equal((0u, 0u), (fake.R(0x100), fake.R(0x400)));
        Assert.Equal(0, dev.Config.Read16(PciConfigSpace.CommandOffset) & PciConfigSpace.CommandBusMaster);
        Assert.True(port.IsStopped);
        fake.Inject(Frame(FakeE1000.DefaultMac, 1));
        Assert.Equal(0, port.ReceiveBurst(new Packet[4]));
        var tx = Frames(port, 1);
        Assert.Equal(0, port.TransmitBurst(tx));
        tx[0].Free();
    }

    [Fact]
    public void Dispose_of_a_live_port_stops_and_resets_the_nic_and_later_bursts_throw_object_disposed()
    {
        var (_, dev, dma, fake) = Setup();
        using var _ = fake;
        var port = E1000Port.Attach(dev, dma);
        port.Dispose();
        var deadline = DateTime.UtcNow + Soon;
        while (fake.Resets < 2)
            Assert.True(DateTime.UtcNow < deadline, "Dispose did not reset the NIC");
        Assert.Equal(0u, fake.R(0x100) & 2);
        Assert.True(port.Pool.IsDisposed); // the port made it, the port disposed it
        Assert.Throws<ObjectDisposedException>(() => port.ReceiveBurst(new Packet[1]));
        Assert.Throws<ObjectDisposedException>(() => port.Promiscuous = true);
    }
}
