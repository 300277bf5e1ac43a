using Hotplug;
using Hotplug.Uevents;
using Hotplug.Tests.Uevents;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Core;

/// <summary>Which kernel uevents the PCI bus turns into device events.</summary>
public class PciUeventMapTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(nameof(KernelUeventSamples.PciRemove), true, DeviceEventType.Remove)]
    [InlineData(nameof(KernelUeventSamples.UioRemove), true, DeviceEventType.Remove)]
    [InlineData(nameof(KernelUeventSamples.VfioDevRemove), true, DeviceEventType.Remove)]
    [InlineData(nameof(KernelUeventSamples.PciUnbind), false, DeviceEventType.Remove)]
    [InlineData(nameof(KernelUeventSamples.NetLoChange), false, DeviceEventType.Remove)]
    public void Kernel_uevents_map_to_the_owning_pci_device(string sample, bool maps, DeviceEventType type)
    {
        using var rig = new SimulatedRig(output, enable: false);
        string text = (string)typeof(KernelUeventSamples).GetField(sample)!.GetValue(null)!;
        Assert.True(UeventParser.TryParse(KernelUeventSamples.Bytes(text), out var ev, out _));

        bool mapped = rig.Eal.Pci().TryMapUevent(ev!, out string? name, out var t);

        Assert.Equal(maps, mapped);
        if (maps)
        {
            Assert.Equal(SimulatedRig.Address, name);
            Assert.Equal(type, t);
        }
    }
}
