using Hotplug.Interop;
using Microsoft.Extensions.Logging;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// One vfio container for the bus and the groups opened into it, reference counted so the last device
/// of a group closes the group and the last group closes the container (the kernel waits for that).
/// Thread-safe: a removal can release a device from the event thread while another device is being attached.
/// </summary>
internal sealed unsafe class VfioContainer(string devRoot, ILogger logger)
{
    private readonly Dictionary<string, (SafeFdHandle Fd, int Refs)> _groups = [];
    private SafeFdHandle? _container;
    private bool _iommuSet;
    private readonly Lock _lock = new();

    /// <summary>The container's DMA mappings; they outlive the container and are replayed into the next one.</summary>
    public VfioDmaMapper Dma { get; } = new(logger);

    /// <summary>Opens (or shares) the group fd of <paramref name="groupName"/> (<c>5</c> or <c>noiommu-5</c>).</summary>
    public int AcquireGroup(string groupName)
    {
        lock (_lock)
            return AcquireGroupLocked(groupName);
    }

    private int AcquireGroupLocked(string groupName)
    {
        if (_groups.TryGetValue(groupName, out var g))
        {
            _groups[groupName] = (g.Fd, g.Refs + 1);
            return g.Fd.Fd;
        }
        _container ??= OpenContainer();
        var group = Sys.Open(Path.Combine(devRoot, "vfio", groupName), O_RDWR);
        try
        {
            Vfio.vfio_group_status status = new() { argsz = (uint)sizeof(Vfio.vfio_group_status) };
            if (ioctl(group.Fd, Vfio.VFIO_GROUP_GET_STATUS, &status) != 0)
                throw Sys.IoError($"VFIO_GROUP_GET_STATUS on group {groupName}");
            if ((status.flags & Vfio.VFIO_GROUP_FLAGS_VIABLE) == 0)
                throw new IOException($"vfio group {groupName} is not viable: bind every device of the group to vfio-pci (or unbind it).");
            int cfd = _container.Fd;
            if (ioctl(group.Fd, Vfio.VFIO_GROUP_SET_CONTAINER, &cfd) != 0)
                throw Sys.IoError($"VFIO_GROUP_SET_CONTAINER for group {groupName}");
            if (!_iommuSet)
            {
                int type = groupName.StartsWith("noiommu-", StringComparison.Ordinal) ? Vfio.VFIO_NOIOMMU_IOMMU : Vfio.VFIO_TYPE1v2_IOMMU;
                if (ioctl(cfd, Vfio.VFIO_SET_IOMMU, type) != 0)
                    throw Sys.IoError($"VFIO_SET_IOMMU type {type}");
                _iommuSet = true;
                if (type == Vfio.VFIO_TYPE1v2_IOMMU)
                    Dma.Attach(_container); // replays the DMA mappings of an earlier container at the same IOVAs
            }
        }
        catch
        {
            group.Dispose();
            ReleaseContainerIfUnused();
            throw;
        }
        _groups[groupName] = (group, 1);
        logger.LogDebug("vfio group {Group} opened", groupName);
        return group.Fd;
    }

    /// <summary>Drops one reference to the group; the last closes it, and the container when no group is left.</summary>
    public void ReleaseGroup(string groupName)
    {
        lock (_lock)
            ReleaseGroupLocked(groupName);
    }

    private void ReleaseGroupLocked(string groupName)
    {
        if (!_groups.TryGetValue(groupName, out var g))
            return;
        if (g.Refs > 1)
        {
            _groups[groupName] = (g.Fd, g.Refs - 1);
            return;
        }
        _groups.Remove(groupName);
        ioctl(g.Fd.Fd, Vfio.VFIO_GROUP_UNSET_CONTAINER);
        g.Fd.Dispose();
        logger.LogDebug("vfio group {Group} closed", groupName);
        ReleaseContainerIfUnused();
    }

    private void ReleaseContainerIfUnused()
    {
        if (_groups.Count > 0 || _container is null)
            return;
        Dma.Detach(); // the kernel dropped every mapping with the last group
        _container.Dispose();
        _container = null;
        _iommuSet = false;
    }

    private SafeFdHandle OpenContainer()
    {
        var c = Sys.Open(Path.Combine(devRoot, "vfio", "vfio"), O_RDWR);
        int api = ioctl(c.Fd, Vfio.VFIO_GET_API_VERSION);
        if (api != Vfio.VFIO_API_VERSION)
        {
            c.Dispose();
            throw new IOException($"Unknown vfio API version {api}.");
        }
        return c;
    }

}
