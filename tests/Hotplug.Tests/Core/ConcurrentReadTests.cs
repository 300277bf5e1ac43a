using Hotplug;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Core;

/// <summary>App threads may look at the bus while the Eal changes it.</summary>
public class ConcurrentReadTests(ITestOutputHelper output)
{
    [Fact]
    public void Listing_and_finding_devices_while_scans_add_and_remove_them_never_throws()
    {
        using var sim = Testing.SimulatedPciBus.Create();
        using var loggers = XunitLoggerFactory.Create(output, Microsoft.Extensions.Logging.LogLevel.Warning);
        using var eal = PciEal.Create(sim.CreateOptions(), null, loggers);
        var pci = eal.Pci();
        using var stop = new CancellationTokenSource();
        Exception? failure = null;
        long reads = 0;
        var reader = new Thread(() =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    foreach (var d in pci.PciDevices)
                        _ = pci.FindDevice(d.Name);
                    reads++;
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        reader.Start();
        for (int round = 0; round < 200; round++)
        {
            var dev = sim.AddDevice($"0000:05:{round % 32:x2}.0", 0x8086, 0x10d3, [4096], kernelDriver: null);
            eal.Scan();
            dev.Dispose();
            eal.Scan();
        }
        stop.Cancel();
        reader.Join();
        Assert.Null(failure);
        Assert.True(reads > 0);
    }
}
