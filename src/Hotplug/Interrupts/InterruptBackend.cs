namespace Hotplug.Interrupts;

/// <summary>
/// What an attachment provides to deliver a device's interrupts: arm the device with one fd per vector,
/// re-arm a vector after the driver acked it, and disarm. vfio (eventfds, SET_IRQS) and uio (the node) differ
/// only here; an <see cref="InterruptSet"/> does the rest.
/// </summary>
internal abstract class InterruptBackend
{
    /// <summary>
    /// Arms <paramref name="count"/> vectors of <paramref name="kind"/> and returns their sources, index
    /// order. The sources' fds are <c>O_CLOEXEC | O_NONBLOCK</c>; the caller owns them from here on (and closes
    /// them after <see cref="Disable"/>). On failure nothing stays armed or open.
    /// </summary>
    /// <exception cref="ArgumentException">The device has no such kind, or fewer vectors.</exception>
    /// <exception cref="IOException">The kernel refused.</exception>
    public abstract IReadOnlyList<InterruptSource> Enable(InterruptKind kind, int count);

    /// <summary>Re-arms vector <paramref name="index"/> where the mechanism needs it (INTx, uio); a no-op for MSI / MSI-X.</summary>
    public abstract void Unmask(int index);

    /// <summary>
    /// Disarms every vector. Must not throw when the device is already gone or its fd closed: it is called
    /// on the removal path.
    /// </summary>
    public abstract void Disable();
}
