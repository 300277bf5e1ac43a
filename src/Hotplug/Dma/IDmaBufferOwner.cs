namespace Hotplug.Dma;

/// <summary>Where a <see cref="DmaBuffer"/> goes back to when it is disposed: its allocator or its pool.</summary>
internal interface IDmaBufferOwner
{
    /// <summary>Takes <paramref name="buffer"/> back (called once per rent or allocation).</summary>
    void Release(DmaBuffer buffer);
}
