using System.Diagnostics.CodeAnalysis;
using Hotplug.Uevents;

namespace Hotplug;

/// <summary>
/// A bus (DPDK's <c>struct rte_bus</c> ops). The core knows buses only through this interface. All calls are
/// made by <see cref="Eal"/> under its lock, so a bus never sees two of them at once; a bus calls back through
/// its <see cref="BusHost"/>.
/// </summary>
public interface IBus
{
    /// <summary>The bus name (<c>pci</c>).</summary>
    string Name { get; }

    /// <summary>The devices the bus knows now (safe from any thread).</summary>
    IReadOnlyList<Device> Devices { get; }

    /// <summary>True while the kernel waits for the bus to let a device go: the core must not rescan then
    /// (reading sysfs can block on the device lock the pending removal holds).</summary>
    bool ReleasePending { get; }

    /// <summary>Called once when the bus is registered.</summary>
    void Attach(BusHost host);

    /// <summary>Reads the bus (DPDK's scan): new devices are added as Parsed; devices gone are reported, and attached ones are handled as removed.</summary>
    BusScanResult Scan();

    /// <summary>Attaches drivers to every Parsed device that one matches (DPDK's probe). Attached devices are never re-initialised. Returns how many were attached.</summary>
    int Probe();

    /// <summary>The device named <paramref name="name"/> (any accepted spelling), or null.</summary>
    Device? FindDevice(string name);

    /// <summary>Checks a device name and returns its canonical spelling (DPDK's parse), or why it is not one.</summary>
    bool TryParseDeviceName(string name, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? error);

    /// <summary>Finds the device by reading the bus for it alone and attaches a driver (DPDK's plug).</summary>
    Device Plug(string canonicalName, string? args);

    /// <summary>Detaches the device's driver and releases everything mapped for it (DPDK's unplug).</summary>
    void Unplug(Device device);

    /// <summary>
    /// The device is gone or going: make every access to it safe now (remap its BARs to dead memory) and mark it
    /// <see cref="DeviceState.Removed"/>; return what must be released once the app has been told. Returns
    /// <see cref="HotUnplugResult.NotHandled"/> if it had been done already, the device was not attached, or it is
    /// not this bus's device (without side effects: the core's warm-up relies on that).
    /// </summary>
    HotUnplugResult HotUnplugHandler(Device device);

    /// <summary>
    /// A SIGBUS hit a mapping this bus registered for <paramref name="device"/> (the core found it by the fault's
    /// cookie); the shim has already replaced the mapping. Says whether the bus agrees it is its device's.
    /// </summary>
    SigbusResult SigbusHandler(Device device, nint faultAddress);

    /// <summary>Sees every kernel uevent first (for example to bind or attach a device the kernel adds back).</summary>
    void ObserveUevent(Uevent uevent);

    /// <summary>Maps a kernel uevent to a device event on this bus, or false when it is not one of the bus's.</summary>
    bool TryMapUevent(Uevent uevent, [NotNullWhen(true)] out string? deviceName, out DeviceEventType type);

    /// <summary>Compiles the bus's removal path ahead of the first removal (called when hotplug handling is enabled).</summary>
    void WarmRemovalPath();
}
