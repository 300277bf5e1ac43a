using Hotplug.Interrupts;

namespace Hotplug.Pci;

/// <summary>
/// A device bound to uio_pci_generic or igb_uio: sysfs BARs and config space (or the <c>/dev/uioN</c> maps with
/// <see cref="PciBusOptions.MapUioThroughDevNode"/>), watched through <c>/dev/uioN</c>, whose hang-up is the
/// earliest removal signal uio gives. Nothing here makes the kernel wait.
/// </summary>
internal sealed class UioAttachment(PciDevice device, PciAttachContext context) : SysfsResourceAttachment(device, context)
{
    private UioWatch? _watch;

    private string Node => Path.Combine(Context.Options.DevRoot, Device.Info.UioName!);

    protected override void ArmRemovalWatch()
    {
        try
        {
            _watch = UioWatch.Open(Node, Context.Host.Loop, () => OnRemovalSignal(DeviceEventSource.Uio));
        }
        catch (IOException e)
        {
            Context.Logger.LogUioWatchFailed(Node, e.Message);
        }
    }

    protected override MappedBar MapBar(BarInfo bar, int mapIndex, ulong cookie) =>
        Context.Options.MapUioThroughDevNode
            ? BarMapper.MapFile(Node, (long)mapIndex * Environment.SystemPageSize, bar.Index, bar.Length, BarMappingKind.Uio,
                Context.Options.RemapFill, cookie)
            : base.MapBar(bar, mapIndex, cookie);

    protected override InterruptBackend CreateInterruptBackend(InterruptKind kind)
    {
        if (kind is not (InterruptKind.Uio or InterruptKind.Intx))
            throw new NotSupportedException($"{Device.Name} is held through uio: its one interrupt is InterruptKind.Uio (MSI-X and MSI need vfio-pci).");
        return Device.Info.KernelDriver == PciKernelDriver.IgbUio
            ? UioInterrupts.ForIgbUio(Node)
            : UioInterrupts.ForUioPciGeneric(Node, () => Device.Config.Read16(PciConfigSpace.CommandOffset),
                v => Device.Config.Write16(PciConfigSpace.CommandOffset, v));
    }

    protected override Action? DeferredReleaseOnUnplug() => _watch is { } w ? w.Close : null;

    protected override void ReleaseKernelHandles()
    {
        _watch?.Close();
        base.ReleaseKernelHandles();
    }
}
