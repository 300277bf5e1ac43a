namespace Hotplug;

/// <summary>One device event, as delivered to callbacks and readers.</summary>
/// <param name="BusName">The bus the device is on (for example <c>pci</c>).</param>
/// <param name="DeviceName">The device's name on its bus (for PCI, <c>DDDD:BB:DD.F</c>).</param>
/// <param name="Type">Add, remove or bound.</param>
/// <param name="Source">The signal that reported it.</param>
/// <param name="TimestampNs">CLOCK_MONOTONIC nanoseconds when the signal happened (for SIGBUS, the fault itself).</param>
/// <param name="Generation">
/// Which life of the device the event belongs to: the <see cref="Device.Generation"/> of the attachment it
/// concerns (for REMOVE, the attachment that is gone), or 0 when the device is not attached. Pass the event to
/// <see cref="Eal.HotplugRemove(DeviceEvent)"/> and a stale REMOVE never detaches a device attached again since.
/// </param>
public sealed record DeviceEvent(string BusName, string DeviceName, DeviceEventType Type, DeviceEventSource Source, long TimestampNs,
    long Generation = 0)
{
    /// <summary>
    /// CLOCK_MONOTONIC nanoseconds when the event was published to the callbacks: for REMOVE, after the bus made the
    /// device safe (interrupt waiters woken, the driver's <c>Quiesce</c> when the device still answers, BARs
    /// remapped). <see cref="TimestampNs"/> to this is the library's own handling; this to the callback is the
    /// dispatch. 0 when not recorded.
    /// </summary>
    public long PublishedNs { get; init; }

    /// <inheritdoc />
    public override string ToString() => $"{Type} {BusName}:{DeviceName} ({Source}{(Generation == 0 ? "" : $", generation {Generation}")})";
}
