using Hotplug;
using Hotplug.Pci;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Sigbus;

/// <summary>
/// A simulated device's BAR is a memfd mapped MAP_SHARED through the library's own mapping code;
/// pulling the device truncates the memfd, so the next access is a real SIGBUS that the shim must survive.
/// </summary>
public class SigbusRecoveryTests(ITestOutputHelper output)
{
    [Fact]
    public void Read_after_surprise_removal_returns_all_ones_and_raises_one_remove()
    {
        using var rig = new SimulatedRig(output);
        Assert.Equal(0x010000edu, rig.Bar0.Read32(0));

        rig.Device.Remove();
        uint after = rig.Bar0.Read32(0); // real SIGBUS, remapped, retried

        Assert.Equal(0xFFFFFFFFu, after);
        Assert.True(rig.Bar0.IsRemapped);
        var remove = rig.WaitRemove();
        Assert.Equal(SimulatedRig.Address, remove.DeviceName);
        Assert.Contains(remove.Source, new[] { DeviceEventSource.Sigbus, DeviceEventSource.Uio });
        Assert.Equal(DeviceState.Removed, rig.Pci.State);
        rig.Settle();
        Assert.Single(rig.Snapshot(), e => e.Type == DeviceEventType.Remove);
    }

    [Fact]
    public void Zero_fill_reads_zero_like_dpdk()
    {
        using var rig = new SimulatedRig(output, fill: BarFill.Zero);
        rig.Device.FailBars();
        Assert.Equal(0u, rig.Bar0.Read32(0x10));
        Assert.Equal(DeviceEventSource.Sigbus, rig.WaitRemove().Source);
    }

    [Fact]
    public void Write_on_a_worker_thread_survives_and_the_old_device_memory_is_not_touched()
    {
        using var rig = new SimulatedRig(output);
        rig.Device.FailBars();
        var t = new Thread(() => rig.Bar0.Write32(0x04, 0x12345678));
        t.Start();
        Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(DeviceEventSource.Sigbus, rig.WaitRemove().Source);
        Assert.True(rig.Bar0.IsRemapped);
    }

    [Fact]
    public void Every_bar_of_the_device_is_remapped_when_one_faults()
    {
        using var rig = new SimulatedRig(output, bars: [1UL << 16, 0, 1UL << 20]);
        Assert.Equal(2, rig.Pci.Bars.Count);
        rig.Device.FailBars();
        Assert.Equal(0xFFFFFFFFu, rig.Pci.Bar(2).Read32(0x100));
        rig.WaitRemove();
        Assert.All(rig.Pci.Bars, b => Assert.True(b.IsRemapped));
        Assert.Equal(0xFFFFFFFFFFFFFFFFul, rig.Pci.Bar(0).Read64(0)); // never faulted itself: remapped by the handler
    }

    [Fact]
    public void Eight_threads_faulting_on_one_bar_at_once_all_survive()
    {
        using var rig = new SimulatedRig(output);
        var bar = rig.Bar0;
        using var go = new ManualResetEventSlim();
        var results = new uint[8];
        var threads = Enumerable.Range(0, 8).Select(i => new Thread(() =>
        {
            go.Wait();
            uint v = 0;
            for (int k = 0; k < 10_000; k++)
                v = bar.Read32((ulong)(i * 4096));
            results[i] = v;
        })).ToList();
        threads.ForEach(t => t.Start());
        rig.Device.FailBars();
        go.Set();
        Assert.All(threads, t => Assert.True(t.Join(TimeSpan.FromSeconds(20))));
        Assert.All(results, v => Assert.Equal(0xFFFFFFFFu, v));
        rig.WaitRemove();
        rig.Settle();
        Assert.Single(rig.Snapshot(), e => e.Type == DeviceEventType.Remove);
    }

    [Fact]
    public void Fault_during_heavy_gc_is_survived()
    {
        using var rig = new SimulatedRig(output);
        using var stop = new CancellationTokenSource();
        var gc = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                _ = new byte[64 * 1024];
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            }
        });
        gc.Start();
        Thread.Sleep(20);
        rig.Device.FailBars();
        uint v = 0;
        for (int i = 0; i < 1000; i++)
            v = rig.Bar0.Read32((ulong)(i % 256) * 4);
        stop.Cancel();
        gc.Join();
        Assert.Equal(0xFFFFFFFFu, v);
        rig.WaitRemove();
    }

    [Theory]
    [InlineData(BarFill.AllOnes, 0xFFFFFFFFu)]
    [InlineData(BarFill.Zero, 0u)]
    public void A_bar_of_several_mib_is_remapped_whole(BarFill fill, uint expected)
    {
        const ulong size = 8UL << 20;
        using var rig = new SimulatedRig(output, bars: [size], fill: fill);
        rig.Device.FailBars();
        Assert.Equal(expected, rig.Bar0.Read32(size - 4));
        Assert.Equal(expected, rig.Bar0.Read32(0));
        Assert.Equal(expected, rig.Bar0.Read32(size / 2));
        rig.WaitRemove();
    }

    [Fact]
    public void A_thousand_map_remove_recover_unmap_cycles_leak_no_fd_or_mapping()
    {
        using var rig = new SimulatedRig(output, bars: [1UL << 14], logLevel: Microsoft.Extensions.Logging.LogLevel.Error);
        rig.Eal.HotplugRemove("pci", SimulatedRig.Address);
        rig.Device.Dispose();
        int fds0 = OpenFds(), maps0 = Mappings();
        for (int i = 0; i < 1000; i++)
        {
            string addr = $"0000:02:{i % 32:x2}.{i / 32 % 8}";
            var dev = rig.Sim.AddDevice(addr, 0x1234, 0x11e8, [1UL << 14]);
            var pci = (PciDevice)rig.Eal.HotplugAdd("pci", addr);
            dev.Remove();
            Assert.Equal(0xFFFFFFFFu, pci.Bar(0).Read32(0));
            Assert.Equal(addr, rig.WaitRemove().DeviceName); // the app's flow: REMOVE, then detach
            rig.Eal.HotplugRemove("pci", addr);
            dev.Dispose();
        }
        rig.Settle();
        // A detached BAR stays mapped to dead memory until its MappedBar is unreachable: collect, then count.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.InRange(OpenFds(), 0, fds0 + 2);
        Assert.InRange(Mappings(), 0, maps0 + 64); // the runtime maps a little on its own
        Assert.Equal(0, SimMappings());
        Assert.Equal(1000, rig.Snapshot().Count(e => e.Type == DeviceEventType.Remove && e.DeviceName != SimulatedRig.Address));
    }

    private static int OpenFds() => Directory.GetFiles("/proc/self/fd").Length;

    private static int Mappings() => File.ReadAllLines("/proc/self/maps").Length;

    private static int SimMappings() => File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("hotplug-sim"));
}
