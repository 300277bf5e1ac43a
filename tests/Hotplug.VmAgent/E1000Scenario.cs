using System.Collections.Concurrent;
using Hotplug;
using Hotplug.E1000;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>e1000 BDF_A BDF_B FRAMES [remove]</c>: the 82540EM driver (Hotplug.E1000) on two QEMU e1000 NICs on one hub.
/// Reports <c>e1000-up</c> (MACs, link, attach times), <c>e1000-traffic</c> for FRAMES sequence-numbered frames A to B
/// and 256 frames B to A (counts, bad, out of order, rate, bytes allocated by the loop), and with <c>remove</c>:
/// <c>e1000-running</c> (traffic A to B flowing: the host pulls B now), then <c>e1000-removed</c> (B's bursts returned
/// 0 after its REMOVE, nothing threw, what the process still holds).
/// </summary>
internal static class E1000Scenario
{
    public static int Run(string bdfA, string bdfB, int frames, bool remove)
    {
        using var pair = new E1000Pair(bdfA, bdfB);
        var (a, b) = (pair.A, pair.B);
        if (!pair.LinksUp)
            return Fail("no link");

        var ab = new E1000Traffic(a, b);
        ab.Run(frames, TimeSpan.FromSeconds(60));
        Emit("a-b", ab, frames);
        var ba = new E1000Traffic(b, a);
        ba.Run(256, TimeSpan.FromSeconds(30));
        Emit("b-a", ba, 256);
        if (ab.Received != frames || ab.Bad + ab.OutOfOrder != 0 || ba.Received != 256 || ba.Bad + ba.OutOfOrder != 0)
            return Fail("frames were lost, damaged or reordered");
        return remove ? Removal(pair.Eal, pair.Events, a, b, bdfB) : 0;
    }

    private static int Removal(Eal eal, BlockingCollection<DeviceEvent> events, E1000Port a, E1000Port b, string bdfB)
    {
        var traffic = new E1000Traffic(a, b);
        long afterRemoved = 0, zeroBursts = 0;
        string failure = "";
        bool announced = false;
        var stop = false;
        var loop = new Thread(() =>
        {
            try
            {
                traffic.RunUntil(() => Volatile.Read(ref stop), received =>
                {
                    if (!announced && received >= 200)
                    {
                        announced = true;
                        Report.Emit("e1000-running", w => w.WriteNumber("received", received));
                    }
                });
                var rx = new Packet[32];
                for (int i = 0; i < 10_000; i++) // the removed port, many times more: 0 each time
                {
                    int n = b.ReceiveBurst(rx);
                    afterRemoved += n;
                    zeroBursts += n == 0 ? 1 : 0;
                }
            }
            catch (Exception e)
            {
                failure = e.ToString();
            }
        }) { Name = "e1000-traffic" };
        loop.Start();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        DeviceEvent? removed = null;
        while (removed is null && events.TryTake(out var e, deadline - DateTime.UtcNow > TimeSpan.Zero ? deadline - DateTime.UtcNow : TimeSpan.Zero))
            if (e.Type == DeviceEventType.Remove && e.DeviceName == bdfB)
                removed = e;
        if (removed is null)
        {
            Volatile.Write(ref stop, true);
            loop.Join();
            return Fail("no REMOVE for B");
        }
        double removeMs = Report.NowMs();
        bool stoppedBefore = b.IsStopped;
        eal.HotplugRemove(removed); // E1000Driver.Remove: B's bursts return 0 from here on
        long receivedAtRemove = traffic.Received;
        long aSentAtRemove = a.Stats.TxPackets;
        Thread.Sleep(300);
        Volatile.Write(ref stop, true);
        if (!loop.Join(TimeSpan.FromSeconds(30)))
            return Fail("the traffic loop did not stop within 30 s (a hang)");
        b.Dispose();
        // A lives on (with vfio, B's group left the shared container): its transmit ring still drains, by DMA.
        long aSentAfter = a.Stats.TxPackets - aSentAtRemove;
        var drainBy = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        int aInFlight;
        while ((aInFlight = a.ReclaimTransmitted()) > 0 && DateTime.UtcNow < drainBy)
            Thread.Sleep(1);
        Report.Emit("e1000-removed", w =>
        {
            w.WriteString("source", removed.Source.ToString());
            w.WriteNumber("signal_to_callback_ms", removeMs - removed.TimestampNs / 1e6);
            w.WriteBoolean("stopped_by_quiesce", stoppedBefore);
            w.WriteBoolean("removed", b.IsRemoved);
            w.WriteString("link_b", b.Link.ToString());
            w.WriteNumber("received_total", traffic.Received);
            w.WriteNumber("received_after_remove", traffic.Received - receivedAtRemove);
            w.WriteNumber("bad", traffic.Bad);
            w.WriteNumber("rx_after_removed", afterRemoved);
            w.WriteNumber("zero_bursts", zeroBursts);
            w.WriteString("failure", failure);
            w.WriteNumber("a_sent_after_remove", aSentAfter);
            w.WriteNumber("a_in_flight", aInFlight);
            Resources.Write(w);
        });
        return failure == "" && afterRemoved == 0 && traffic.Bad == 0 && aSentAfter > 0 && aInFlight == 0 ? 0 : 1;
    }

    private static void Emit(string direction, E1000Traffic t, int frames) =>
        Report.Emit("e1000-traffic", w =>
        {
            w.WriteString("dir", direction);
            w.WriteNumber("frames", frames);
            w.WriteNumber("sent", t.Sent);
            w.WriteNumber("received", t.Received);
            w.WriteNumber("bad", t.Bad);
            w.WriteNumber("out_of_order", t.OutOfOrder);
            w.WriteString("first_bad", t.FirstBad);
            w.WriteNumber("elapsed_ms", t.Ms);
            w.WriteNumber("pps", t.Received / (t.Ms / 1000));
            w.WriteNumber("rx_bursts", t.RxBursts);
            w.WriteNumber("tx_bursts", t.TxBursts);
            w.WriteNumber("alloc_bytes", t.AllocatedBytes);
        });

    private static int Fail(string why)
    {
        Report.Error(why);
        return 1;
    }
}
