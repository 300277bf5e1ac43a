namespace Hotplug.Pci;

/// <summary>What a BAR reads as after Hotplug has remapped it away from a removed device.</summary>
public enum BarFill
{
    /// <summary>All-ones, as a removed PCIe device answers (drivers test for <c>0xFFFFFFFF</c>).</summary>
    AllOnes,
    /// <summary>Zero pages (DPDK's behaviour).</summary>
    Zero,
}
