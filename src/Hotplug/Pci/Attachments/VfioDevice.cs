using Hotplug.Interop;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// A device opened through vfio: the device fd, its BAR and config regions, and the request eventfd
/// (<c>VFIO_PCI_REQ_IRQ_INDEX</c>) that vfio-pci signals when it wants the device back. Everything is
/// O_CLOEXEC. Every use of the device fd holds a reference on its handle, so a release from the event thread
/// never closes the fd under another thread's call (nor lets the number be reused under it).
/// </summary>
internal sealed unsafe class VfioDevice : IDisposable
{
    private readonly VfioContainer _container;
    private readonly string _group;
    private readonly SafeFdHandle _device;
    private SafeFdHandle? _request;
    private IDisposable? _requestWatch;
    private long _configOffset = -1;
    private int _released;

    private VfioDevice(VfioContainer container, string group, SafeFdHandle device)
    {
        _container = container;
        _group = group;
        _device = device;
    }

    public static VfioDevice Open(VfioContainer container, string groupName, PciAddress address)
    {
        int groupFd = container.AcquireGroup(groupName);
        int fd;
        fixed (byte* name = Sys.NulTerminated(address.ToString()))
            fd = ioctl(groupFd, Vfio.VFIO_GROUP_GET_DEVICE_FD, name);
        if (fd < 0)
        {
            var e = Sys.IoError($"VFIO_GROUP_GET_DEVICE_FD {address}");
            container.ReleaseGroup(groupName);
            throw e;
        }
        // The kernel returns the device fd with O_CLOEXEC set (anon inode, O_CLOEXEC since 3.x); make sure.
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        return new VfioDevice(container, groupName, new SafeFdHandle(fd));
    }

    /// <summary>The device fd (lease it for each call), for the interrupt backend.</summary>
    public SafeFdHandle Handle => _device;

    public Vfio.vfio_region_info Region(uint index)
    {
        using var fd = _device.Lease();
        Vfio.vfio_region_info info = new() { argsz = (uint)sizeof(Vfio.vfio_region_info), index = index };
        Sys.CheckIo(ioctl(fd.Fd, Vfio.VFIO_DEVICE_GET_REGION_INFO, &info), $"VFIO_DEVICE_GET_REGION_INFO {index}");
        return info;
    }

    /// <summary>Maps a memory BAR region into a <see cref="MappedBar"/>.</summary>
    public MappedBar MapBar(BarInfo bar, BarFill fill, ulong cookie)
    {
        var r = Region((uint)bar.Index);
        if ((r.flags & Vfio.VFIO_REGION_INFO_FLAG_MMAP) == 0 || r.size == 0)
            throw new IOException($"vfio region {bar.Index} cannot be mapped (flags 0x{r.flags:x}, size {r.size}).");
        using var fd = _device.Lease();
        return BarMapper.MapFd(fd.Fd, (long)r.offset, bar.Index, r.size, BarMappingKind.Vfio, fill, cookie);
    }

    private long ConfigOffset => _configOffset >= 0 ? _configOffset
        : _configOffset = (long)Region(Vfio.VFIO_PCI_CONFIG_REGION_INDEX).offset;

    /// <summary>Reads config space through the vfio config region.</summary>
    public void ReadConfig(int offset, Span<byte> into) => ConfigFile.Read(_device, ConfigOffset + offset, into);

    /// <summary>Writes config space through the vfio config region.</summary>
    public void WriteConfig(int offset, ReadOnlySpan<byte> data) => ConfigFile.Write(_device, ConfigOffset + offset, data);

    /// <summary>Registers an eventfd on the request IRQ; <paramref name="onRequest"/> runs on the event thread.</summary>
    public bool WatchRequests(Loop.EventLoop loop, Action onRequest)
    {
        using var fd = _device.Lease();
        Vfio.vfio_irq_info info = new() { argsz = (uint)sizeof(Vfio.vfio_irq_info), index = Vfio.VFIO_PCI_REQ_IRQ_INDEX };
        if (ioctl(fd.Fd, Vfio.VFIO_DEVICE_GET_IRQ_INFO, &info) != 0 || info.count == 0)
            return false; // kernel without the request interrupt
        _request = Sys.CheckFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd for the vfio request");
        Vfio.vfio_irq_set_one_fd set = new()
        {
            argsz = (uint)sizeof(Vfio.vfio_irq_set_one_fd),
            flags = Vfio.VFIO_IRQ_SET_DATA_EVENTFD | Vfio.VFIO_IRQ_SET_ACTION_TRIGGER,
            index = Vfio.VFIO_PCI_REQ_IRQ_INDEX,
            start = 0,
            count = 1,
            fd = _request.Fd,
        };
        Sys.CheckIo(ioctl(fd.Fd, Vfio.VFIO_DEVICE_SET_IRQS, &set), "VFIO_DEVICE_SET_IRQS (request eventfd)");
        _requestWatch = VfioRequestNotifier.Watch(loop, _request.Fd, onRequest);
        return true;
    }

    /// <summary>Lets the kernel have the device: stop watching, close the device fd, drop the group. Idempotent, any thread.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
            return;
        _requestWatch?.Dispose();
        _device.Dispose(); // closes when the last lease ends; also tears down the IRQ trigger
        _request?.Dispose();
        _container.ReleaseGroup(_group);
    }

    public void Dispose() => Release();
}
