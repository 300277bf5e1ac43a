namespace Hotplug.E1000;

/// <summary>The link as the STATUS register reports it (all down when the NIC is gone).</summary>
/// <param name="IsUp">STATUS.LU.</param>
/// <param name="SpeedMbps">10, 100 or 1000 (0 when down).</param>
/// <param name="FullDuplex">STATUS.FD.</param>
public readonly record struct E1000LinkStatus(bool IsUp, int SpeedMbps, bool FullDuplex)
{
    /// <summary>No link (also what a removed NIC reports).</summary>
    public static E1000LinkStatus Down => default;

    /// <inheritdoc />
    public override string ToString() => IsUp ? $"up {SpeedMbps} Mb/s {(FullDuplex ? "full" : "half")} duplex" : "down";
}
