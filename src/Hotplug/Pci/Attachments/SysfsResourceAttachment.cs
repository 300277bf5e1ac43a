using Hotplug.Interop;
using Hotplug.Interrupts;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// A device held through sysfs alone: BARs mapped from <c>resourceN</c>, config space through the <c>config</c>
/// file. It has no removal watch of its own (uevents and SIGBUS report the removal) and nothing the kernel waits
/// for. The base of the uio attachment, which adds the uio node.
/// </summary>
internal class SysfsResourceAttachment(PciDevice device, PciAttachContext context) : PciAttachment(device, context)
{
    private SafeFdHandle? _config;

    private int _closed;

    protected override void OpenDevice()
    {
    }

    protected override void ArmRemovalWatch()
    {
    }

    protected override MappedBar MapBar(BarInfo bar, int mapIndex, ulong cookie) =>
        BarMapper.MapFile(Path.Combine(Device.Info.SysfsPath, $"resource{bar.Index}"), 0, bar.Index, bar.Length,
            BarMappingKind.SysfsResource, Context.Options.RemapFill, cookie);

    protected override InterruptBackend CreateInterruptBackend(InterruptKind kind) =>
        throw new NotSupportedException($"{Device.Name} is held through sysfs resource files only: it has no interrupt channel (bind uio_pci_generic, igb_uio or vfio-pci).");

    public override void ReadConfig(int offset, Span<byte> into) => ConfigFile.Read(Config, offset, into);

    public override void WriteConfig(int offset, ReadOnlySpan<byte> data) => ConfigFile.Write(Config, offset, data);

    private SafeFdHandle Config
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed) != 0, this);
            if (_config is null)
            {
                var fd = Sys.Open(Path.Combine(Device.Info.SysfsPath, "config"), O_RDWR);
                if (Interlocked.CompareExchange(ref _config, fd, null) is not null)
                    fd.Dispose();
            }
            return _config;
        }
    }

    protected override Action? DeferredReleaseOnUnplug() => null;

    protected override void ReleaseKernelHandles()
    {
        Volatile.Write(ref _closed, 1);
        Interlocked.Exchange(ref _config, null)?.Dispose();
    }
}
