using Hotplug.Interop;

namespace Hotplug.Interrupts;

/// <summary>
/// One fd that becomes readable when a vector fires, and how to read its count: an eventfd (8-byte counter,
/// reset by the read) or a uio node (4-byte cumulative counter). The backend makes them; the
/// <see cref="InterruptSet"/> watches them on the event thread and closes them.
/// </summary>
internal abstract class InterruptSource : IDisposable
{
    protected InterruptSource(SafeFdHandle handle) => Handle = handle;

    /// <summary>The fd (non-blocking, close-on-exec); owned by this source.</summary>
    public SafeFdHandle Handle { get; }

    /// <summary>
    /// Reads what is pending without blocking: the interrupts since the last read, 0 when none.
    /// <paramref name="broken"/> is set when the fd is closed or failed (a uio node after removal: EIO): stop watching it.
    /// </summary>
    public abstract ulong ReadCount(out bool broken);

    /// <summary>Closes the fd (idempotent; a read in progress keeps it open until it returns).</summary>
    public void Dispose() => Handle.Dispose();
}
