using System.Buffers.Binary;
using System.Diagnostics;
using Hotplug.E1000;

namespace Hotplug.VmAgent;

/// <summary>
/// Sequence-numbered test frames between two <see cref="E1000Port"/>s on one QEMU hub: what is sent, what came back,
/// and whether every frame arrived whole and in order. One thread drives both ports; nothing on the loop allocates.
/// </summary>
internal sealed class E1000Traffic(E1000Port from, E1000Port to)
{
    public const ushort EtherType = 0x88B5; // IEEE local experimental
    private readonly byte[] _src = from.MacAddress.GetAddressBytes(), _dst = to.MacAddress.GetAddressBytes();
    private readonly Packet[] _tx = new Packet[32], _rx = new Packet[64];
    private int _expected;

    public long Sent, Received, Bad, OutOfOrder, RxBursts, TxBursts, AllocatedBytes, PoolEmpty;
    public string FirstBad = "";
    public double Ms;

    /// <summary>60..1514 bytes, a different length for each sequence number.</summary>
    public static int LengthOf(int seq) => 60 + (int)((uint)seq * 37u % 1455u);

    /// <summary>Sends <paramref name="frames"/> frames and receives them on the other port (bounded by <paramref name="timeout"/>).</summary>
    public void Run(int frames, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew(); // before the first reading: the Stopwatch itself is the one allocation here
        long alloc0 = GC.GetAllocatedBytesForCurrentThread();
        while (Received + Bad < frames && sw.Elapsed < timeout)
        {
            if (Sent < frames)
                SendSome((int)Math.Min(_tx.Length, frames - Sent));
            ReceiveSome();
        }
        Ms = sw.Elapsed.TotalMilliseconds;
        AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - alloc0;
    }

    /// <summary>Sends until <paramref name="stop"/> is set, receiving as it goes (the removal phase).</summary>
    public void RunUntil(Func<bool> stop, Action<long>? onProgress = null)
    {
        while (!stop())
        {
            SendSome(_tx.Length);
            ReceiveSome();
            onProgress?.Invoke(Received);
        }
    }

    public void SendSome(int count)
    {
        int k = from.Pool.AllocBulk(_tx.AsSpan(0, count));
        if (k == 0)
        {
            PoolEmpty++;
            from.ReclaimTransmitted();
            return;
        }
        for (int i = 0; i < k; i++)
            Build(_tx[i], (int)Sent + i);
        int n = from.TransmitBurst(_tx.AsSpan(0, k));
        TxBursts++;
        if (n < k)
            from.Pool.FreeBulk(_tx.AsSpan(n, k - n)); // the ring was full (or the port is gone): those sequence numbers are sent again
        Sent += n;
    }

    public int ReceiveSome()
    {
        int n = to.ReceiveBurst(_rx);
        RxBursts++;
        for (int i = 0; i < n; i++)
            Check(_rx[i].Data);
        if (n > 0)
            to.Pool.FreeBulk(_rx.AsSpan(0, n));
        return n;
    }

    private void Build(Packet p, int seq)
    {
        var f = p.Buffer;
        int length = LengthOf(seq);
        _dst.CopyTo(f);
        _src.CopyTo(f[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(f[12..], EtherType);
        BinaryPrimitives.WriteInt32LittleEndian(f[14..], seq);
        for (int i = 18; i < length; i++)
            f[i] = (byte)(seq + i);
        p.Length = length;
    }

    private void Check(Span<byte> f)
    {
        int seq = f.Length >= 18 ? BinaryPrimitives.ReadInt32LittleEndian(f[14..]) : -1;
        bool ok = f.Length == LengthOf(seq) && f[..6].SequenceEqual(_dst) && f[6..12].SequenceEqual(_src)
            && BinaryPrimitives.ReadUInt16BigEndian(f[12..]) == EtherType;
        for (int i = 18; ok && i < f.Length; i++)
            ok = f[i] == (byte)(seq + i);
        if (!ok)
        {
            if (Bad++ == 0)
                FirstBad = $"frame of {f.Length} bytes, seq {seq}: {Convert.ToHexString(f[..Math.Min(f.Length, 24)])}";
            return;
        }
        if (seq != _expected)
            OutOfOrder++;
        _expected = seq + 1;
        Received++;
    }
}
