namespace Hotplug.Uevents;

/// <summary>
/// Counters of a <see cref="UeventSocket"/>: cumulative since it was opened (<see cref="UeventSocket.Statistics"/>)
/// or for one <see cref="UeventSocket.ReceiveAll(List{Uevent})"/> call (<see cref="UeventReceiveResult.Counts"/>).
/// </summary>
/// <param name="Received">Datagrams read from the socket.</param>
/// <param name="Parsed">Datagrams accepted as kernel uevents and delivered.</param>
/// <param name="DroppedMalformed">Kernel datagrams the <see cref="UeventParser"/> rejected.</param>
/// <param name="DroppedNotKernel">Datagrams not sent by the kernel (sender port id not 0, missing credentials, or uid not 0).</param>
/// <param name="DroppedOversized">Kernel datagrams larger than the receive buffer (<c>MSG_TRUNC</c>).</param>
/// <param name="Overflows">Times the kernel reported <c>ENOBUFS</c>: it dropped uevents because the socket buffer was full.</param>
public readonly record struct UeventStats(
    long Received,
    long Parsed,
    long DroppedMalformed,
    long DroppedNotKernel,
    long DroppedOversized,
    long Overflows)
{
    /// <summary>Adds two sets of counters.</summary>
    /// <param name="a">The first set.</param>
    /// <param name="b">The second set.</param>
    /// <returns>The element-wise sum.</returns>
    public static UeventStats operator +(UeventStats a, UeventStats b) => new(
        a.Received + b.Received,
        a.Parsed + b.Parsed,
        a.DroppedMalformed + b.DroppedMalformed,
        a.DroppedNotKernel + b.DroppedNotKernel,
        a.DroppedOversized + b.DroppedOversized,
        a.Overflows + b.Overflows);
}
