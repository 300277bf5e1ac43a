namespace Hotplug.Interrupts;

/// <summary>How an <see cref="InterruptVector.WaitAsync"/> or <see cref="InterruptVector.Wait"/> ended.</summary>
public enum InterruptWaitStatus
{
    /// <summary>The vector fired; <see cref="InterruptWait.Count"/> says how often since the last wait.</summary>
    Fired,

    /// <summary>The device is gone: no interrupt will ever come. Every later wait ends the same way at once.</summary>
    DeviceRemoved,

    /// <summary>The interrupts were disabled (detach, or the driver turned them off). Every later wait ends the same way at once.</summary>
    Disabled,

    /// <summary>A blocking <see cref="InterruptVector.Wait"/> reached its timeout with no interrupt.</summary>
    TimedOut,
}
