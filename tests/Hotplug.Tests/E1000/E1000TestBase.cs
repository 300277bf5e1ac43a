using Hotplug.Dma;
using Hotplug.E1000;
using Hotplug.Tests.Dma;
using Hotplug.Tests.Pci;

namespace Hotplug.Tests.E1000;

/// <summary>A simulated 82540EM (BAR0 128 KiB) attached through the public API, with <see cref="FakeE1000"/> behind it (each test disposes its fake).</summary>
public abstract class E1000TestBase(ITestOutputHelper output) : PciBusTestBase(output)
{
    protected static readonly TimeSpan Soon = TimeSpan.FromSeconds(10);

    /// <summary>The test's output.</summary>
    protected ITestOutputHelper Log { get; } = output;

    internal (E1000Driver Driver, PciDevice Device, DmaAllocator Dma, FakeE1000 Fake) Setup(bool handling = false, bool macInEepromOnly = false)
    {
        var sim = _sim.AddDevice(A, E1000Driver.IntelVendorId, E1000Driver.I82540EmDeviceId, [128 * 1024]);
        var eal = NewEal();
        var driver = new E1000Driver();
        eal.Pci().RegisterDriver(driver);
        if (handling)
            eal.EnableHotplugHandling();
        eal.Scan();
        var dev = (PciDevice)eal.HotplugAdd("pci", A);
        var dma = DmaAllocatorTests.Create(new TestDmaMapper());
        var fake = new FakeE1000(sim, dma, macInEepromOnly: macInEepromOnly);
        return (driver, dev, dma, fake);
    }

    /// <summary>A frame to <paramref name="dst"/> with a sequence number at byte 14 and a pattern after it.</summary>
    internal static byte[] Frame(byte[] dst, int seq, int length = 64)
    {
        var f = new byte[length];
        dst.CopyTo(f, 0);
        byte[] src = [0x52, 0x54, 0x00, 0xAA, 0xBB, 0xCC];
        src.CopyTo(f, 6);
        f[12] = 0x88;
        f[13] = 0xB5; // local experimental ethertype
        BitConverter.TryWriteBytes(f.AsSpan(14), seq);
        for (int i = 18; i < length; i++)
            f[i] = (byte)(seq + i);
        return f;
    }

    internal static int SeqOf(ReadOnlySpan<byte> frame) => BitConverter.ToInt32(frame[14..18]);

    /// <summary>Receives until <paramref name="count"/> frames came (bounded: a miss fails the test).</summary>
    internal static List<byte[]> ReceiveAll(E1000Port port, int count, int burst = 32)
    {
        var got = new List<byte[]>();
        var packets = new Packet[burst];
        var deadline = DateTime.UtcNow + Soon;
        while (got.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {got.Count} of {count} frames arrived within {Soon.TotalSeconds} s");
            int n = port.ReceiveBurst(packets);
            for (int i = 0; i < n; i++)
            {
                got.Add(packets[i].Data.ToArray());
                packets[i].Free();
            }
            if (n == 0)
                Thread.Yield();
        }
        return got;
    }

    /// <summary>Waits until the fake has sent <paramref name="count"/> frames (bounded).</summary>
    internal static List<byte[]> WaitSent(FakeE1000 fake, int count)
    {
        var deadline = DateTime.UtcNow + Soon;
        while (fake.Sent.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {fake.Sent.Count} of {count} frames were sent within {Soon.TotalSeconds} s");
            Thread.Yield();
        }
        return [.. fake.Sent];
    }

}
