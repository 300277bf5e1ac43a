using System.Collections.Concurrent;
using Hotplug.Pci;

namespace Hotplug.Nvme;

/// <summary>
/// The PCI driver for NVMe controllers (class code 01:08:02, 64-bit DMA). It takes the device; the app then makes
/// an <see cref="NvmeController"/> with <see cref="NvmeController.Attach"/>. When vfio-pci asks for the device back
/// while it still answers, <see cref="Quiesce"/> shuts the controller down (CC.SHN, bounded by
/// <see cref="ShutdownTimeout"/>); <see cref="Remove"/> completes every outstanding command with
/// <see cref="NvmeStatus.ControllerRemoved"/>.
/// </summary>
public class NvmeDriver : PciDriver
{
    /// <summary>Class code of an NVM Express controller (mass storage, non-volatile memory, NVMe).</summary>
    public const uint NvmeClassCode = 0x010802;

    private static readonly PciId[] NvmeIds = [new(PciId.Any, PciId.Any, ClassCode: NvmeClassCode)];
    private readonly ConcurrentDictionary<PciDevice, NvmeController> _controllers = new();

    /// <inheritdoc />
    public override IReadOnlyList<PciId> Ids => NvmeIds;

    /// <inheritdoc />
    public override string Name => "nvme";

    /// <summary>NVMe controllers address 64 bits.</summary>
    public override ulong DmaMask => ulong.MaxValue;

    /// <summary>How long <see cref="Quiesce"/> waits for CSTS.SHST to say the shutdown is complete (it runs on the event thread).</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromMilliseconds(15);

    /// <summary>The controller attached to <paramref name="device"/>, if any.</summary>
    public NvmeController? ControllerOf(PciDevice device) => _controllers.TryGetValue(device, out var c) ? c : null;

    /// <summary>Takes the device unless its BAR0 reads all-ones (already gone).</summary>
    public override bool Probe(PciDevice device) => device.Bar(0).Read32(NvmeRegisters.Csts) != NvmeRegisters.AllOnes;

    /// <summary>Shuts the controller down while it still answers (no new submissions from here on).</summary>
    public override void Quiesce(PciDevice device)
    {
        if (_controllers.TryGetValue(device, out var c))
            c.Shutdown(ShutdownTimeout);
    }

    /// <summary>Completes everything outstanding with <see cref="NvmeStatus.ControllerRemoved"/>.</summary>
    public override void Remove(PciDevice device)
    {
        if (_controllers.TryRemove(device, out var c))
            c.OnRemoved();
    }

    internal void Register(PciDevice device, NvmeController controller) => _controllers[device] = controller;
}
