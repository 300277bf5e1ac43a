namespace Hotplug.Dma;

/// <summary>A range of device addresses, <paramref name="Start"/> to <paramref name="End"/> inclusive.</summary>
/// <param name="Start">The first address.</param>
/// <param name="End">The last address (inclusive).</param>
internal readonly record struct IovaRange(ulong Start, ulong End)
{
    /// <inheritdoc/>
    public override string ToString() => $"0x{Start:x}-0x{End:x}";
}
