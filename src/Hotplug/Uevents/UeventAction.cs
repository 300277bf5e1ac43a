namespace Hotplug.Uevents;

/// <summary>
/// The action of a kernel uevent (the part of the header before the <c>@</c>, repeated in the
/// <c>ACTION</c> key).
/// </summary>
public enum UeventAction
{
    /// <summary>An action string this library does not know; see <see cref="Uevent.RawAction"/>.</summary>
    Unknown = 0,

    /// <summary><c>add</c>: a device appeared.</summary>
    Add,

    /// <summary><c>remove</c>: a device disappeared.</summary>
    Remove,

    /// <summary><c>change</c>: a device changed (also produced by writing <c>change</c> to a sysfs <c>uevent</c> file).</summary>
    Change,

    /// <summary><c>move</c>: a device was renamed or reparented.</summary>
    Move,

    /// <summary><c>online</c>: a device (for example a CPU) went online.</summary>
    Online,

    /// <summary><c>offline</c>: a device went offline.</summary>
    Offline,

    /// <summary><c>bind</c>: a driver was bound to the device.</summary>
    Bind,

    /// <summary><c>unbind</c>: the driver was unbound from the device.</summary>
    Unbind,
}
