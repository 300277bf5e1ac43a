namespace Hotplug;

/// <summary>Where a device is in its life (DPDK's RTE_DEV_PARSED / PROBED / FAULT).</summary>
public enum DeviceState
{
    /// <summary>Found by a scan; no driver attached.</summary>
    Parsed,
    /// <summary>A driver is attached and owns the device (its BARs may be mapped).</summary>
    Probed,
    /// <summary>The device left while attached: its mappings now read dead memory; detach it.</summary>
    Removed,
    /// <summary>Handling the removal failed; the device must not be used.</summary>
    Fault,
}
