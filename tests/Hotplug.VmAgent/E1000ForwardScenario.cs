using System.Buffers.Binary;
using System.Diagnostics;
using Hotplug.E1000;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>e1000-fwd BDF_A BDF_B SECONDS INFLIGHT</c>: the forwarding rate through the driver (issue 14 item 6). On a QEMU
/// hub of the two NICs, INFLIGHT frames addressed to A are injected through B; then for SECONDS one thread forwards:
/// A's <see cref="E1000Port.ReceiveBurst"/> straight into B's <see cref="E1000Port.TransmitBurst"/> (the hub repeats
/// what B sends back to A), so the frames circulate and every one is received and sent again by our driver. Reports
/// <c>e1000-fwd</c>: frames forwarded, per second, bursts, frames per burst, and the bytes the loop allocated (must be 0).
/// A figure of QEMU's TCG emulation and of this driver together: compare it with DPDK's on the same guest, not with hardware.
/// </summary>
internal static class E1000ForwardScenario
{
    public static int Run(string bdfA, string bdfB, int seconds, int inflight)
    {
        using var pair = new E1000Pair(bdfA, bdfB, new E1000PortOptions { RxRingSize = 512, TxRingSize = 512, PoolSize = 2048 });
        if (!pair.LinksUp)
            return Fail("no link");
        var (a, b) = (pair.A, pair.B);
        int injected = Inject(b, a.MacAddress.GetAddressBytes(), inflight);
        var burst = new Packet[32];
        long forwarded = 0, rxBursts = 0, txBursts = 0, dropped = 0, emptyPolls = 0;
        var sw = Stopwatch.StartNew(); // before the first reading: the Stopwatch itself is the one allocation here
        long alloc0 = GC.GetAllocatedBytesForCurrentThread();
        long until = Stopwatch.GetTimestamp() + seconds * Stopwatch.Frequency;
        while (Stopwatch.GetTimestamp() < until)
        {
            int n = a.ReceiveBurst(burst);
            rxBursts++;
            if (n == 0)
            {
                emptyPolls++;
                continue;
            }
            int sent = b.TransmitBurst(burst.AsSpan(0, n));
            txBursts++;
            if (sent < n)
            {
                dropped += n - sent;
                a.Pool.FreeBulk(burst.AsSpan(sent, n - sent));
            }
            forwarded += sent;
        }
        double ms = sw.Elapsed.TotalMilliseconds;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - alloc0;
        var sa = a.Stats;
        Report.Emit("e1000-fwd", w =>
        {
            w.WriteNumber("inflight", injected);
            w.WriteNumber("elapsed_ms", ms);
            w.WriteNumber("forwarded", forwarded);
            w.WriteNumber("pps", forwarded / (ms / 1000));
            w.WriteNumber("mbit_s", sa.RxBytes * 8 / (ms / 1000) / 1e6);
            w.WriteNumber("rx_bursts", rxBursts);
            w.WriteNumber("tx_bursts", txBursts);
            w.WriteNumber("empty_polls", emptyPolls);
            w.WriteNumber("frames_per_burst", txBursts == 0 ? 0 : (double)forwarded / txBursts);
            w.WriteNumber("dropped", dropped);
            w.WriteNumber("rx_errors", sa.RxErrors);
            w.WriteNumber("alloc_bytes", allocated);
        });
        return forwarded > 0 && allocated == 0 ? 0 : 1;
    }

    /// <summary>Sends <paramref name="count"/> 64-byte frames to <paramref name="dst"/> through <paramref name="port"/>.</summary>
    private static int Inject(E1000Port port, byte[] dst, int count)
    {
        var src = port.MacAddress.GetAddressBytes();
        var one = new Packet[1];
        int sent = 0;
        var deadline = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
        while (sent < count && Stopwatch.GetTimestamp() < deadline)
        {
            if (!port.Pool.TryAlloc(out var p))
            {
                port.ReclaimTransmitted();
                continue;
            }
            var f = p.Buffer;
            dst.CopyTo(f);
            src.CopyTo(f[6..]);
            BinaryPrimitives.WriteUInt16BigEndian(f[12..], E1000Traffic.EtherType);
            BinaryPrimitives.WriteInt32LittleEndian(f[14..], sent);
            f[18..60].Clear();
            p.Length = 60;
            one[0] = p;
            if (port.TransmitBurst(one) == 1)
                sent++;
            else
                p.Free();
        }
        return sent;
    }

    private static int Fail(string why)
    {
        Report.Error(why);
        return 1;
    }
}
