namespace Hotplug;

/// <summary>A device on a bus. Its state changes only under the owning <see cref="Eal"/>'s lock.</summary>
public abstract class Device
{
    /// <summary>Creates a device of <paramref name="bus"/> named <paramref name="name"/>.</summary>
    protected Device(IBus bus, string name)
    {
        Bus = bus;
        Name = name;
    }

    /// <summary>The bus the device is on.</summary>
    public IBus Bus { get; }

    /// <summary>The device's unique name on its bus.</summary>
    public string Name { get; }

    /// <summary>Where the device is in its life.</summary>
    public DeviceState State { get; protected internal set; } = DeviceState.Parsed;

    /// <summary>The driver attached to it, or null.</summary>
    public Driver? Driver { get; protected internal set; }

    /// <summary>
    /// The identity of the current attachment: a number unique in the process, new at every attach, kept after
    /// the device is removed until it is detached; 0 while it is not attached. Device events carry it.
    /// </summary>
    public long Generation { get; protected internal set; }

    /// <summary>The arguments given when it was attached with <see cref="Eal.HotplugAdd"/>, if any.</summary>
    public string? Args { get; protected internal set; }

    /// <inheritdoc />
    public override string ToString() => $"{Bus.Name}:{Name} ({State}{(Driver is null ? "" : ", " + Driver.Name)})";
}
