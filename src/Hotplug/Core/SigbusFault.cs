namespace Hotplug;

/// <summary>A SIGBUS that the shim recovered from, as seen by managed code on the event thread.</summary>
/// <param name="Address">The faulting address.</param>
/// <param name="RangeStart">Start of the BAR mapping that was replaced.</param>
/// <param name="ThreadId">Linux thread id of the faulting thread.</param>
/// <param name="FaultNs">CLOCK_MONOTONIC ns when the signal handler started.</param>
/// <param name="RemappedNs">CLOCK_MONOTONIC ns when the remap was done and the access could be retried.</param>
/// <param name="HandledNs">CLOCK_MONOTONIC ns when the event thread picked it up.</param>
/// <param name="FirstForRange">True when this fault remapped the range (others found it done).</param>
/// <param name="DeviceName">The device the address belonged to, when a bus claimed it.</param>
public sealed record SigbusFault(nint Address, nint RangeStart, int ThreadId, long FaultNs, long RemappedNs, long HandledNs,
    bool FirstForRange, string? DeviceName);
