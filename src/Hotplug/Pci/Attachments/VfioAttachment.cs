using System.Globalization;
using Hotplug.Interrupts;

namespace Hotplug.Pci;

/// <summary>
/// A device bound to vfio-pci: the device fd from its group in the bus's container, BARs as mmapped regions,
/// config space through the config region, and the request interrupt — armed as soon as the fd is open — that
/// vfio-pci signals when it wants the device back. The kernel's removal waits until the fd and every mapping
/// are gone, so the release is what lets it finish.
/// </summary>
internal sealed class VfioAttachment(PciDevice device, PciAttachContext context, Action<int> releaseCounter) : PciAttachment(device, context)
{
    private VfioDevice? _vfio;

    private VfioDevice Vfio => _vfio ?? throw new ObjectDisposedException(nameof(PciAttachment), $"{Device.Name} is not attached.");

    protected override void OpenDevice()
    {
        string group = Device.Info.IommuGroup is { } g ? g.ToString(CultureInfo.InvariantCulture)
            : throw new IOException($"{Device.Name} is bound to vfio-pci but has no iommu_group");
        string dir = Path.Combine(Context.Options.DevRoot, "vfio");
        if (!File.Exists(Path.Combine(dir, group)) && File.Exists(Path.Combine(dir, "noiommu-" + group)))
            group = "noiommu-" + group;
        _vfio = VfioDevice.Open(Context.Vfio, group, Device.Address);
    }

    protected override void ArmRemovalWatch()
    {
        if (!Vfio.WatchRequests(Context.Host.Loop, () =>
            {
                StillAnswers = true;
                OnRemovalSignal(DeviceEventSource.VfioRequest);
            }))
            Context.Logger.LogNoVfioRequest(Device.Name);
    }

    protected override MappedBar MapBar(BarInfo bar, int mapIndex, ulong cookie) => Vfio.MapBar(bar, Context.Options.RemapFill, cookie);

    protected override InterruptBackend CreateInterruptBackend(InterruptKind kind) =>
        kind == InterruptKind.Uio ? throw new NotSupportedException($"{Device.Name} is held through vfio: ask for MSI-X, MSI or INTx, not a uio interrupt.")
            : new VfioInterrupts(Vfio.Handle);

    public override void ReadConfig(int offset, Span<byte> into) => Vfio.ReadConfig(offset, into);

    public override void WriteConfig(int offset, ReadOnlySpan<byte> data) => Vfio.WriteConfig(offset, data);

    /// <summary>Closing the device fd is what lets the kernel finish: right after the callbacks (counted as pending until then).</summary>
    protected override Action? DeferredReleaseOnUnplug()
    {
        if (_vfio is not { } vfio)
            return null;
        releaseCounter(+1);
        return () =>
        {
            try
            {
                vfio.Release();
            }
            finally
            {
                releaseCounter(-1);
            }
        };
    }

    protected override void ReleaseKernelHandles() => _vfio?.Release();
}
