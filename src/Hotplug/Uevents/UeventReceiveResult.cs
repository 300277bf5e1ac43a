namespace Hotplug.Uevents;

/// <summary>What one <see cref="UeventSocket.ReceiveAll(List{Uevent})"/> call read.</summary>
/// <param name="Counts">The counters for this call only.</param>
public readonly record struct UeventReceiveResult(UeventStats Counts)
{
    /// <summary>
    /// <see langword="true"/> if the kernel reported <c>ENOBUFS</c> during this call: uevents were lost, so the
    /// caller must rescan the devices it cares about. The socket keeps working.
    /// </summary>
    public bool Overflowed => Counts.Overflows > 0;

    /// <summary>The number of uevents appended to the caller's list.</summary>
    public int Delivered => (int)Counts.Parsed;
}
