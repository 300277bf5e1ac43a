namespace Hotplug.Eal;

/// <summary>What happened to a device (DPDK's RTE_DEV_EVENT_ADD / REMOVE).</summary>
public enum DeviceEventType
{
    /// <summary>A device appeared.</summary>
    Add,
    /// <summary>A device went away, or failed in a way that means it is gone.</summary>
    Remove,
}
