using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;

namespace Hotplug.Tests.Core;

/// <summary>A device re-attached with HotplugAdd at the same address gets a REMOVE again when it goes again.</summary>
public class ReattachRemoveTests
{
    private sealed class Driver : PciDriver
    {
        public override string Name => "reattach-test";
        public override IReadOnlyList<PciId> Ids { get; } = [new PciId(0x1234, 0x11e8)];
        public override bool Probe(PciDevice device) => true;
    }

    [Fact]
    public void Second_removal_of_a_reattached_device_is_published()
    {
        using var sim = SimulatedPciBus.Create();
        using var eal = PciEal.Create(sim.CreateOptions(), null);
        eal.Pci().RegisterDriver(new Driver());
        using var removes = new SemaphoreSlim(0);
        using var sub = eal.DeviceEvents.Register("0000:01:00.0", e =>
        {
            if (e.Type == DeviceEventType.Remove)
                removes.Release();
        });
        for (int cycle = 0; cycle < 2; cycle++)
        {
            using var dev = sim.AddDevice("0000:01:00.0", 0x1234, 0x11e8, [4096]);
            eal.HotplugAdd("pci", "0000:01:00.0");
            dev.Remove(); // the uio node hangs up: a REMOVE from the uio source, no SIGBUS involved
            Assert.True(removes.Wait(TimeSpan.FromSeconds(30)), $"no REMOVE for removal {cycle + 1}");
            eal.HotplugRemove("pci", "0000:01:00.0");
        }
    }
}
