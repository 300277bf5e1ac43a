namespace Hotplug.E1000;

/// <summary>
/// A snapshot of a port's counters, kept by the driver in software (no register is read for them, so a removed NIC
/// keeps its last figures).
/// </summary>
/// <param name="RxPackets">Frames handed to the app by <see cref="E1000Port.ReceiveBurst"/>.</param>
/// <param name="RxBytes">Their bytes (without the FCS, which the NIC strips).</param>
/// <param name="RxErrors">Frames the NIC marked bad (descriptor errors) or that spanned several buffers: dropped.</param>
/// <param name="RxNoBuffer">Bursts that stopped early because the packet pool was empty (the NIC then drops when its ring is full).</param>
/// <param name="TxPackets">Frames handed to the NIC by <see cref="E1000Port.TransmitBurst"/>.</param>
/// <param name="TxBytes">Their bytes.</param>
/// <param name="TxRingFull">Frames a burst could not take because the transmit ring was full (left to the caller).</param>
public readonly record struct E1000Stats(
    long RxPackets, long RxBytes, long RxErrors, long RxNoBuffer,
    long TxPackets, long TxBytes, long TxRingFull);
