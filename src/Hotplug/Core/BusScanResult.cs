namespace Hotplug;

/// <summary>What a scan changed: devices found for the first time and devices that disappeared.</summary>
/// <param name="Added">Names of devices seen for the first time.</param>
/// <param name="Removed">Names of devices this scan found gone (attached ones are now <see cref="DeviceState.Removed"/> and stay listed until detached; a later scan does not report them again).</param>
/// <param name="Errors">Per-device problems (a garbage file, an unreadable entry); the scan went on without them.</param>
public sealed record BusScanResult(IReadOnlyList<string> Added, IReadOnlyList<string> Removed, IReadOnlyList<string> Errors)
{
    /// <summary>A scan that changed nothing.</summary>
    public static BusScanResult Empty { get; } = new([], [], []);
}
