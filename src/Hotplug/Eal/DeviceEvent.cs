namespace Hotplug.Eal;

/// <summary>One device event, as delivered to callbacks and readers.</summary>
/// <param name="BusName">The bus the device is on (for example <c>pci</c>).</param>
/// <param name="DeviceName">The device's name on its bus (for PCI, <c>DDDD:BB:DD.F</c>).</param>
/// <param name="Type">Add or remove.</param>
/// <param name="Source">The signal that reported it.</param>
/// <param name="TimestampNs">CLOCK_MONOTONIC nanoseconds when the signal happened (for SIGBUS, the fault itself).</param>
public sealed record DeviceEvent(string BusName, string DeviceName, DeviceEventType Type, DeviceEventSource Source, long TimestampNs)
{
    /// <inheritdoc />
    public override string ToString() => $"{Type} {BusName}:{DeviceName} ({Source})";
}
