using System.Text;
using Hotplug.Events;
using Hotplug.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// A device opened through vfio: the device fd, its BAR and config regions, and the request eventfd
/// (<c>VFIO_PCI_REQ_IRQ_INDEX</c>) that vfio-pci signals when it wants the device back. Everything is
/// O_CLOEXEC: a child that inherited the fd or a mapping would block the kernel's removal forever.
/// </summary>
internal sealed unsafe class VfioDevice : IDisposable
{
    private readonly VfioContainer _container;
    private readonly string _group;
    private readonly SafeFdHandle _device;
    private SafeFdHandle? _request;
    private IDisposable? _requestWatch;
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
        fixed (byte* name = Encoding.UTF8.GetBytes(address + "\0"))
            fd = ioctl(groupFd, VfioInterop.GroupGetDeviceFd, name);
        if (fd < 0)
        {
            var e = Errno.FromLast($"VFIO_GROUP_GET_DEVICE_FD {address}");
            container.ReleaseGroup(groupName);
            throw e;
        }
        // The kernel returns the device fd with O_CLOEXEC set (anon inode, O_CLOEXEC since 3.x); make sure.
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        return new VfioDevice(container, groupName, new SafeFdHandle(fd));
    }

    public VfioInterop.RegionInfo Region(uint index)
    {
        VfioInterop.RegionInfo info = new() { Argsz = (uint)sizeof(VfioInterop.RegionInfo), Index = index };
        if (ioctl(_device.Fd, VfioInterop.DeviceGetRegionInfo, &info) != 0)
            throw Errno.FromLast($"VFIO_DEVICE_GET_REGION_INFO {index}");
        return info;
    }

    /// <summary>Maps a memory BAR region into a <see cref="MappedBar"/>.</summary>
    public MappedBar MapBar(BarInfo bar, BarFill fill, ulong cookie)
    {
        var r = Region((uint)bar.Index);
        if ((r.Flags & VfioInterop.RegionFlagMmap) == 0 || r.Size == 0)
            throw new IOException($"vfio region {bar.Index} cannot be mapped (flags 0x{r.Flags:x}, size {r.Size}).");
        return BarMapper.MapFd(_device.Fd, (long)r.Offset, bar.Index, r.Size, BarMappingKind.Vfio, fill, cookie);
    }

    /// <summary>Reads config space through the vfio config region.</summary>
    public void ReadConfig(int offset, Span<byte> into)
    {
        long at = (long)Region(VfioInterop.ConfigRegionIndex).Offset + offset;
        fixed (byte* p = into)
            if ((long)pread(_device.Fd, p, into.Length, at) != into.Length)
                throw Errno.FromLast($"pread config at 0x{offset:x}");
    }

    /// <summary>Writes config space through the vfio config region.</summary>
    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        long at = (long)Region(VfioInterop.ConfigRegionIndex).Offset + offset;
        fixed (byte* p = data)
            if ((long)pwrite(_device.Fd, p, data.Length, at) != data.Length)
                throw Errno.FromLast($"pwrite config at 0x{offset:x}");
    }

    /// <summary>Registers an eventfd on the request IRQ; <paramref name="onRequest"/> runs on the event thread.</summary>
    public bool WatchRequests(EventLoop loop, Action onRequest)
    {
        VfioInterop.IrqInfo info = new() { Argsz = (uint)sizeof(VfioInterop.IrqInfo), Index = VfioInterop.PciReqIrqIndex };
        if (ioctl(_device.Fd, VfioInterop.DeviceGetIrqInfo, &info) != 0 || info.Count == 0)
            return false; // kernel without the request interrupt
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd < 0)
            throw Errno.FromLast("eventfd for the vfio request");
        _request = new SafeFdHandle(efd);
        VfioInterop.IrqSetOneFd set = new()
        {
            Argsz = (uint)sizeof(VfioInterop.IrqSetOneFd),
            Flags = VfioInterop.IrqSetDataEventfd | VfioInterop.IrqSetActionTrigger,
            Index = VfioInterop.PciReqIrqIndex,
            Start = 0,
            Count = 1,
            Fd = efd,
        };
        if (ioctl(_device.Fd, VfioInterop.DeviceSetIrqs, &set) != 0)
            throw Errno.FromLast("VFIO_DEVICE_SET_IRQS (request eventfd)");
        _requestWatch = VfioRequestNotifier.Watch(loop, efd, onRequest);
        return true;
    }

    /// <summary>Lets the kernel have the device: stop watching, close the device fd, drop the group. Idempotent.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
            return;
        _requestWatch?.Dispose();
        _device.Dispose(); // also tears down the IRQ trigger
        _request?.Dispose();
        _container.ReleaseGroup(_group);
    }

    public void Dispose() => Release();
}
