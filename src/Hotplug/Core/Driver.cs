namespace Hotplug;

/// <summary>A user-space driver: something that takes ownership of matching devices.</summary>
public abstract class Driver
{
    /// <summary>The driver's name, for logs and listings.</summary>
    public abstract string Name { get; }

    /// <inheritdoc />
    public override string ToString() => Name;
}
