namespace Hotplug.Nvme;

/// <summary>How long each step of <see cref="NvmeController.Attach"/> took.</summary>
/// <param name="Reset">CC.EN=0 until CSTS.RDY=0.</param>
/// <param name="Enable">Admin queues set, CC.EN=1 until CSTS.RDY=1.</param>
/// <param name="Identify">IDENTIFY controller.</param>
/// <param name="Total">The whole attach (with Set Features).</param>
public readonly record struct NvmeAttachTimings(TimeSpan Reset, TimeSpan Enable, TimeSpan Identify, TimeSpan Total);
