using System.Diagnostics;
using Hotplug.Uevents;
using Xunit.Abstractions;

namespace Hotplug.Tests.Uevents;

/// <summary>The real socket on this host (the tests that write sysfs uevent files or force the buffer need root: <c>Requires=Root</c>). The tests of this class run one after another.</summary>
public class UeventSocketTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    /// <summary>Polls and drains until <paramref name="match"/> is seen or <see cref="Patience"/> runs out.</summary>
    private static Uevent? WaitFor(UeventSocket socket, Func<Uevent, bool> match, List<Uevent>? seen = null, List<UeventReceiveResult>? results = null)
    {
        var clock = Stopwatch.StartNew();
        var batch = new List<Uevent>();
        while (clock.Elapsed < Patience)
        {
            if (!socket.WaitReadable(Patience - clock.Elapsed))
                continue;
            batch.Clear();
            var result = socket.ReceiveAll(batch);
            results?.Add(result);
            seen?.AddRange(batch);
            var hit = batch.FirstOrDefault(match);
            if (hit is not null)
                return hit;
        }

        return null;
    }

    [Fact]
    [Trait("Requires", "Root")] // SO_RCVBUFFORCE (CAP_NET_ADMIN)
    public void Opens_with_the_requested_buffer_and_a_kernel_assigned_port()
    {
        using var socket = UeventSocket.Open();
        Assert.True(socket.Fd >= 0);
        Assert.NotEqual(0u, socket.PortId);
        Assert.Equal("SO_RCVBUFFORCE", socket.ReceiveBufferOption); // we are root
        Assert.True(socket.ReceiveBufferBytes >= UeventSocket.DefaultReceiveBufferBytes, $"got {socket.ReceiveBufferBytes}");
        output.WriteLine($"requested {socket.RequestedBufferBytes}, obtained {socket.ReceiveBufferBytes} via {socket.ReceiveBufferOption}");

        // Nothing has been triggered for us; an empty drain is fine (other processes may trigger uevents).
        var r = socket.ReceiveAll(new List<Uevent>());
        Assert.False(r.Overflowed);
    }

    [Fact]
    public void Disposed_socket_throws_object_disposed()
    {
        var socket = UeventSocket.Open();
        socket.Dispose();
        socket.Dispose();
        Assert.Throws<ObjectDisposedException>(() => socket.Fd);
        Assert.Throws<ObjectDisposedException>(() => socket.ReceiveAll(new List<Uevent>()));
    }

    [Fact]
    [Trait("Requires", "Root")] // writes /sys/class/net/lo/uevent
    public void Real_loopback_change_arrives()
    {
        using var socket = UeventSocket.Open(logger: new TestOutputLogger(output));
        string uuid = SysfsUevent.Change(SysfsUevent.Loopback);

        var e = WaitFor(socket, u => u["SYNTH_UUID"] == uuid);

        Assert.NotNull(e);
        Assert.Equal(UeventAction.Change, e.Action);
        Assert.Equal("net", e.Subsystem);
        Assert.Equal(SysfsUevent.LoopbackDevPath, e.DevPath);
        Assert.Equal("lo", e["INTERFACE"]);
        Assert.NotNull(e.SeqNum);
        Assert.True(socket.Statistics.Parsed >= 1);
        output.WriteLine(e.ToString());
    }

    [Fact]
    [Trait("Requires", "Root")] // writes /sys/class/net/lo/uevent
    public void User_space_sender_is_counted_as_not_kernel_and_not_returned()
    {
        using var socket = UeventSocket.Open(logger: new TestOutputLogger(output));
        using var forger = new UserSpaceUeventSender();
        string fakeUuid = Guid.NewGuid().ToString("D");
        byte[] forged = KernelUeventSamples.Bytes(
            $"remove@{SysfsUevent.LoopbackDevPath}\0ACTION=remove\0DEVPATH={SysfsUevent.LoopbackDevPath}\0SUBSYSTEM=net\0SYNTH_UUID={fakeUuid}\0SEQNUM=1\0");
        Assert.True(UeventParser.TryParse(forged, out _, out _)); // well-formed: only the sender gives it away

        forger.SendTo(socket.PortId, forged); // queued at once, ahead of the real event below
        string realUuid = SysfsUevent.Change(SysfsUevent.Loopback);
        var seen = new List<Uevent>();
        var real = WaitFor(socket, u => u["SYNTH_UUID"] == realUuid, seen);

        Assert.NotNull(real);
        Assert.DoesNotContain(seen, u => u["SYNTH_UUID"] == fakeUuid);
        Assert.True(socket.Statistics.DroppedNotKernel >= 1, socket.Statistics.ToString());
        output.WriteLine($"forger port {forger.PortId}; {socket.Statistics}");
    }

    [Fact]
    [Trait("Requires", "Root")] // writes /sys/class/net/lo/uevent
    public void Overflow_is_reported_and_the_socket_keeps_working()
    {
        using var socket = UeventSocket.Open(requestedBufferBytes: 1, logger: new TestOutputLogger(output));
        output.WriteLine($"requested 1 byte, obtained {socket.ReceiveBufferBytes} via {socket.ReceiveBufferOption}");
        Assert.True(socket.ReceiveBufferBytes < 16 * 1024, $"the small buffer did not stick: {socket.ReceiveBufferBytes}");

        // Trigger real uevents without reading; the kernel drops what does not fit and flags ENOBUFS.
        const int Writes = 200; // two fit in the minimum buffer on 6.18; every write is broadcast to all listeners on the host, so stay modest
        for (int i = 0; i < Writes; i++)
            SysfsUevent.Change(i % 2 == 0 ? SysfsUevent.Loopback : SysfsUevent.DevNull);

        var first = socket.ReceiveAll(new List<Uevent>());
        output.WriteLine($"after {Writes} writes: {first.Counts}");
        Assert.True(first.Overflowed);
        Assert.InRange(first.Counts.Parsed, 1, Writes - 1); // some fitted, most were dropped
        Assert.Equal(1, socket.Statistics.Overflows);

        // The same socket still delivers a later uevent. The buffer holds only a couple of uevents, so if
        // other processes' uevents overflow it again meanwhile, do what a real caller does: trigger anew.
        var ours = new HashSet<string> { SysfsUevent.Change(SysfsUevent.Loopback) };
        Uevent? later = null;
        var clock = Stopwatch.StartNew();
        var batch = new List<Uevent>();
        while (later is null && clock.Elapsed < Patience)
        {
            if (!socket.WaitReadable(Patience - clock.Elapsed))
                continue;
            batch.Clear();
            if (socket.ReceiveAll(batch).Overflowed)
                ours.Add(SysfsUevent.Change(SysfsUevent.Loopback));
            later = batch.FirstOrDefault(u => u["SYNTH_UUID"] is { } id && ours.Contains(id));
        }

        Assert.NotNull(later);
        output.WriteLine($"later uevent {later} arrived; totals {socket.Statistics}");
    }
}
