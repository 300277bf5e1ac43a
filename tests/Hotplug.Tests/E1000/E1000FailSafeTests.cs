using Hotplug.E1000;
using Hotplug.FailSafe;
using Hotplug.Tests.Dma;

namespace Hotplug.Tests.E1000;

/// <summary><see cref="E1000Port"/> as the port of a <see cref="FailSafeGroup{TPort}"/>: the NIC under traffic is pulled, the group switches, the data path goes on.</summary>
public sealed class E1000FailSafeTests(ITestOutputHelper output) : E1000TestBase(output)
{
    [Fact]
    public void Pulling_the_active_nic_under_traffic_switches_to_the_standby_and_nothing_but_object_disposed_is_ever_thrown()
    {
        var simA = _sim.AddDevice(A, E1000Driver.IntelVendorId, E1000Driver.I82540EmDeviceId, [128 * 1024]);
        var simB = _sim.AddDevice(B, E1000Driver.IntelVendorId, E1000Driver.I82540EmDeviceId, [128 * 1024]);
        var eal = NewEal();
        eal.Pci().RegisterDriver(new E1000Driver());
        eal.EnableHotplugHandling();
        eal.Scan();
        eal.HotplugAdd("pci", A);
        eal.HotplugAdd("pci", B);
        var dma = DmaAllocatorTests.Create(new TestDmaMapper());
        try
        {
            Run(simA, simB, eal, dma);
        }
        finally
        {
            dma.Dispose(force: true);
        }
    }

    private void Run(Testing.SimulatedPciDevice simA, Testing.SimulatedPciDevice simB, Eal eal, Hotplug.Dma.DmaAllocator dma)
    {
        using var fakeA = new FakeE1000(simA, dma);
        using var fakeB = new FakeE1000(simB, dma, [0x52, 0x54, 0x00, 0x12, 0x34, 0x57]);
        var pool = PacketPool.Create(dma, 512);
        var options = new E1000PortOptions { Pool = pool, RxRingSize = 64, TxRingSize = 64 };
        int switched = 0;
        var group = new FailSafeGroup<E1000Port>(eal);
        group.AddMember("pci", A, d => E1000Port.Attach((PciDevice)d, dma, options), p => p.Dispose());
        group.AddMember("pci", B, d => E1000Port.Attach((PciDevice)d, dma, options), p => p.Dispose());
        group.Switched += s => { if (s.Reason == FailSafeSwitchReason.ActiveRemoved) Volatile.Write(ref switched, 1); };
        group.Start();

        long sentBefore = 0, sentAfter = 0, disposedBefore = 0, violations = 0;
        string? failure = null;
        var stop = new ManualResetEventSlim();
        var dataPath = new Thread(() =>
        {
            var one = new Packet[1];
            var rx = new Packet[16];
            while (!stop.IsSet)
            {
                bool after = Volatile.Read(ref switched) != 0;
                var port = group.Active;
                if (port is null || !pool.TryAlloc(out var p))
                {
                    violations += port is null ? 1 : 0;
                    continue;
                }
                Frame([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], after ? 2 : 1).CopyTo(p.Buffer);
                p.Length = 64;
                one[0] = p;
                try
                {
                    int taken;
                    try
                    {
                        taken = port.TransmitBurst(one);
                    }
                    catch (ObjectDisposedException)
                    {
                        taken = -1; // the port was stopped by the group: p is still ours
                        if (after) violations++; else disposedBefore++;
                    }
                    if (taken <= 0)
                        p.Free();
                    else if (after)
                        sentAfter++;
                    else
                        sentBefore++;
                    int n = port.ReceiveBurst(rx);
                    pool.FreeBulk(rx.AsSpan(0, n));
                }
                catch (ObjectDisposedException)
                {
                    if (after) violations++; else disposedBefore++;
                }
                catch (Exception e)
                {
                    failure ??= e.ToString();
                    stop.Set();
                }
            }
        }) { IsBackground = true, Name = "e1000 data path" };
        dataPath.Start();
        Assert.True(SpinWait.SpinUntil(() => fakeA.Sent.Count > 200, Soon), "no traffic through the primary");

        simA.Remove();
        Assert.True(SpinWait.SpinUntil(() => fakeB.Sent.Count > 200 || failure != null, Soon), "no traffic through the standby after the switch");
        stop.Set();
        dataPath.Join();
        Log.WriteLine($"sent before the switch {sentBefore}, after {sentAfter}, ObjectDisposed before {disposedBefore}; primary sent {fakeA.Sent.Count}, standby {fakeB.Sent.Count}");
        Assert.Null(failure);
        Assert.Equal(0, violations);
        Assert.Equal("pci:" + B, group.ActiveMember?.Id);
        Assert.DoesNotContain(fakeA.Sent, f => SeqOf(f) == 2); // once the data path saw the switch, nothing went to the pulled NIC
        group.Dispose(); // closes the standby's port: every buffer is back in the shared pool
        Assert.Equal(pool.Count, pool.Available);
        pool.Dispose();
    }
}
