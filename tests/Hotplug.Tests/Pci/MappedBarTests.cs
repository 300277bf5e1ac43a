using Hotplug.Pci;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Pci;

/// <summary>The accessors' bounds and disposal checks, at the edges (a 4 KiB BAR of a simulated device).</summary>
public class MappedBarTests(ITestOutputHelper output)
{
    private const ulong Size = 4096;

    [Fact]
    public void Every_width_reaches_the_last_bytes_and_not_one_past()
    {
        using var rig = new SimulatedRig(output, bars: [Size], enable: false);
        var bar = rig.Bar0;
        bar.Write64(Size - 8, 0x1122334455667788);
        Assert.Equal(0x1122334455667788UL, bar.Read64(Size - 8));
        Assert.Equal(0x11223344u, bar.Read32(Size - 4));
        Assert.Equal((ushort)0x1122, bar.Read16(Size - 2));
        Assert.Equal((byte)0x11, bar.Read8(Size - 1));

        Assert.Throws<ArgumentOutOfRangeException>(() => bar.Read64(Size - 7));
        Assert.Throws<ArgumentOutOfRangeException>(() => bar.Read32(Size - 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => bar.Read16(Size - 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => bar.Read8(Size));
        Assert.Throws<ArgumentOutOfRangeException>(() => bar.Write32(Size, 1));
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(ulong.MaxValue - 1)]
    [InlineData(ulong.MaxValue - 3)] // offset + 4 wraps to 0
    [InlineData(1UL << 63)]
    public void Offsets_whose_end_wraps_around_are_refused(ulong offset)
    {
        using var rig = new SimulatedRig(output, bars: [Size], enable: false);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => rig.Bar0.Read32(offset));
        Assert.Contains("outside BAR0", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => rig.Bar0.Write64(offset, 0));
    }

    [Fact]
    public void After_dispose_every_access_is_an_ObjectDisposedException()
    {
        using var rig = new SimulatedRig(output, bars: [Size], enable: false);
        var bar = rig.Bar0;
        Assert.Equal(Size, (ulong)bar.AsSpan().Length);
        bar.Dispose();
        bar.Dispose(); // twice is fine
        Assert.Throws<ObjectDisposedException>(() => bar.Read32(0));
        Assert.Throws<ObjectDisposedException>(() => bar.Write8(0, 1));
        Assert.Throws<ObjectDisposedException>(() => bar.Read64(Size - 8));
        Assert.Throws<ObjectDisposedException>(() => { _ = bar.AsSpan(); });
        Assert.True(bar.IsDisposed);
        Assert.True(bar.IsRemapped);
        // No hole under an address the app was given: the range stays mapped, to dead memory, while the bar is reachable.
        Assert.NotEqual(0, bar.Pointer);
        unsafe
        {
            Assert.Equal(0xFFFFFFFFu, *(uint*)bar.Pointer);
        }
    }
}
