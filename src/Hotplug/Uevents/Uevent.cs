using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;

namespace Hotplug.Uevents;

/// <summary>
/// One kernel uevent: the header fields the library relies on plus every <c>KEY=VALUE</c> property.
/// Instances are immutable.
/// </summary>
public sealed class Uevent
{
    /// <summary>Creates a uevent. The properties are copied.</summary>
    /// <param name="rawAction">The action string as the kernel sent it, for example <c>remove</c>.</param>
    /// <param name="devPath">The sysfs device path without the <c>/sys</c> prefix.</param>
    /// <param name="subsystem">The value of the <c>SUBSYSTEM</c> key.</param>
    /// <param name="seqNum">The kernel's <c>SEQNUM</c>, or <see langword="null"/> if absent.</param>
    /// <param name="properties">All <c>KEY=VALUE</c> pairs of the message (including ACTION, DEVPATH, SUBSYSTEM).</param>
    public Uevent(string rawAction, string devPath, string subsystem, ulong? seqNum, IReadOnlyDictionary<string, string> properties)
        : this(rawAction, devPath, subsystem, seqNum, new Dictionary<string, string>(
            properties ?? throw new ArgumentNullException(nameof(properties)), StringComparer.Ordinal))
    {
    }

    internal Uevent(string rawAction, string devPath, string subsystem, ulong? seqNum, Dictionary<string, string> ownedProperties)
    {
        ArgumentNullException.ThrowIfNull(rawAction);
        ArgumentNullException.ThrowIfNull(devPath);
        ArgumentNullException.ThrowIfNull(subsystem);
        RawAction = rawAction;
        Action = ParseAction(rawAction);
        DevPath = devPath;
        Subsystem = subsystem;
        SeqNum = seqNum;
        Properties = new ReadOnlyDictionary<string, string>(ownedProperties);
    }

    /// <summary>The action, or <see cref="UeventAction.Unknown"/> for an action string not in the enum.</summary>
    public UeventAction Action { get; }

    /// <summary>The action string exactly as received.</summary>
    public string RawAction { get; }

    /// <summary>The sysfs device path without the <c>/sys</c> prefix, for example <c>/devices/virtual/net/lo</c>.</summary>
    public string DevPath { get; }

    /// <summary>The value of the <c>SUBSYSTEM</c> key, for example <c>pci</c>.</summary>
    public string Subsystem { get; }

    /// <summary>The kernel's sequence number (<c>SEQNUM</c>), or <see langword="null"/> if the message had none.</summary>
    public ulong? SeqNum { get; }

    /// <summary>Every <c>KEY=VALUE</c> pair of the message, keys compared ordinally (case-sensitive).</summary>
    public IReadOnlyDictionary<string, string> Properties { get; }

    /// <summary>The value of a property, or <see langword="null"/> if the message does not have it.</summary>
    /// <param name="key">The property name, case-sensitive, for example <c>PCI_SLOT_NAME</c>.</param>
    public string? this[string key] => Properties.TryGetValue(key, out var value) ? value : null;

    /// <summary>Gets the value of a property.</summary>
    /// <param name="key">The property name, case-sensitive.</param>
    /// <param name="value">The value if found.</param>
    /// <returns><see langword="true"/> if the message has the property.</returns>
    public bool TryGet(string key, [NotNullWhen(true)] out string? value) => Properties.TryGetValue(key, out value);

    /// <summary>Maps a kernel action string to <see cref="UeventAction"/> (exact, lower-case match).</summary>
    /// <param name="rawAction">The action string.</param>
    /// <returns>The action, or <see cref="UeventAction.Unknown"/>.</returns>
    public static UeventAction ParseAction(string rawAction) => rawAction switch
    {
        "add" => UeventAction.Add,
        "remove" => UeventAction.Remove,
        "change" => UeventAction.Change,
        "move" => UeventAction.Move,
        "online" => UeventAction.Online,
        "offline" => UeventAction.Offline,
        "bind" => UeventAction.Bind,
        "unbind" => UeventAction.Unbind,
        _ => UeventAction.Unknown,
    };

    /// <summary>A short description: <c>action@devpath (subsystem, seq N)</c>.</summary>
    /// <returns>The description.</returns>
    public override string ToString() =>
        $"{RawAction}@{DevPath} ({Subsystem}, seq {(SeqNum.HasValue ? SeqNum.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")})";
}
