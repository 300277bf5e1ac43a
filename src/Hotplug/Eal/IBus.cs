using System.Diagnostics.CodeAnalysis;
using Hotplug.Events;

namespace Hotplug.Eal;

/// <summary>
/// A bus (DPDK's <c>struct rte_bus</c> ops). All calls are made by <see cref="Eal"/> under its lock, so a
/// bus never sees two of them at once; a bus calls back through its <see cref="BusHost"/>.
/// </summary>
public interface IBus
{
    /// <summary>The bus name (<c>pci</c>).</summary>
    string Name { get; }

    /// <summary>The devices the bus knows now.</summary>
    IReadOnlyList<Device> Devices { get; }

    /// <summary>Called once when the bus is registered.</summary>
    void Attach(BusHost host);

    /// <summary>Reads the bus (DPDK's scan): new devices are added as Parsed; devices gone are reported, and attached ones are handled as removed.</summary>
    BusScanResult Scan();

    /// <summary>Attaches drivers to every Parsed device that one matches (DPDK's probe). Attached devices are never re-initialised. Returns how many were attached.</summary>
    int Probe();

    /// <summary>The device named <paramref name="name"/> (any accepted spelling), or null.</summary>
    Device? FindDevice(string name);

    /// <summary>Checks a device name and returns its canonical spelling (DPDK's parse).</summary>
    bool TryParseDeviceName(string name, [NotNullWhen(true)] out string? canonical);

    /// <summary>Finds the device by reading the bus for it alone and attaches a driver (DPDK's plug).</summary>
    Device Plug(string canonicalName, string? args);

    /// <summary>Detaches the device's driver and releases everything mapped for it (DPDK's unplug).</summary>
    void Unplug(Device device);

    /// <summary>
    /// The device is gone or going: make every access to it safe now (remap its BARs to dead memory,
    /// release what the kernel waits for) and mark it <see cref="DeviceState.Removed"/>. Returns true if
    /// this call did it, false if it had been done already, the device was not attached, or it is not
    /// this bus's device (without side effects: the Eal's warm-up relies on that).
    /// </summary>
    bool HotUnplugHandler(Device device);

    /// <summary>Says whether a SIGBUS address belongs to one of this bus's devices, and which.</summary>
    SigbusResult SigbusHandler(nint faultAddress, out Device? device);

    /// <summary>Maps a kernel uevent to a device event on this bus, or false when it is not one of the bus's.</summary>
    bool TryMapUevent(Uevent uevent, [NotNullWhen(true)] out string? deviceName, out DeviceEventType type);
}
