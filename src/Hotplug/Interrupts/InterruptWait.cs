namespace Hotplug.Interrupts;

/// <summary>The result of <see cref="InterruptVector.WaitAsync"/>: fired (with a count), or the end of the vector.</summary>
public readonly struct InterruptWait : IEquatable<InterruptWait>
{
    private InterruptWait(InterruptWaitStatus status, ulong count)
    {
        Status = status;
        Count = count;
    }

    /// <summary>Why the wait ended.</summary>
    public InterruptWaitStatus Status { get; }

    /// <summary>For <see cref="InterruptWaitStatus.Fired"/>: the interrupts since the last wait (at least 1); otherwise 0.</summary>
    public ulong Count { get; }

    /// <summary>True when the vector fired (as opposed to the device going away or the vector being disabled).</summary>
    public bool IsFired => Status == InterruptWaitStatus.Fired;

    /// <summary>A wait that ended with <paramref name="count"/> interrupts.</summary>
    public static InterruptWait Fired(ulong count) => new(InterruptWaitStatus.Fired, count);

    /// <summary>A wait that ended because the device is gone.</summary>
    public static InterruptWait DeviceRemoved => new(InterruptWaitStatus.DeviceRemoved, 0);

    /// <summary>A wait that ended because the interrupts were disabled.</summary>
    public static InterruptWait Disabled => new(InterruptWaitStatus.Disabled, 0);

    /// <summary>A blocking wait that timed out.</summary>
    public static InterruptWait TimedOut => new(InterruptWaitStatus.TimedOut, 0);

    /// <inheritdoc/>
    public bool Equals(InterruptWait other) => Status == other.Status && Count == other.Count;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is InterruptWait other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Status, Count);

    /// <summary>Equal status and count.</summary>
    public static bool operator ==(InterruptWait left, InterruptWait right) => left.Equals(right);

    /// <summary>Different status or count.</summary>
    public static bool operator !=(InterruptWait left, InterruptWait right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => IsFired ? $"Fired({Count})" : Status.ToString();
}
