namespace Hotplug;

/// <summary>What <see cref="IBus.HotUnplugHandler"/> did.</summary>
/// <param name="Handled">True if this call made the device safe (false: done before, not attached, or not the bus's).</param>
/// <param name="DeferredRelease">
/// Work the core runs on the event thread right after the REMOVE callbacks (for example closing a vfio device fd the
/// kernel waits for, which must not delay the app's REMOVE), or null.
/// </param>
public readonly record struct HotUnplugResult(bool Handled, Action? DeferredRelease)
{
    /// <summary>Nothing was done.</summary>
    public static HotUnplugResult NotHandled => default;
}
