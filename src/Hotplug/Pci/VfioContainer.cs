using System.Text;
using Hotplug.Linux;
using Microsoft.Extensions.Logging;
using static Tmds.Linux.LibC;

namespace Hotplug.Pci;

/// <summary>
/// One vfio container for the bus and the groups opened into it, reference counted so the last device
/// of a group closes the group and the last group closes the container (the kernel waits for that).
/// </summary>
internal sealed unsafe class VfioContainer(string devRoot, ILogger logger)
{
    private readonly Dictionary<string, (SafeFdHandle Fd, int Refs)> _groups = [];
    private SafeFdHandle? _container;
    private bool _iommuSet;

    /// <summary>Opens (or shares) the group fd of <paramref name="groupName"/> (<c>5</c> or <c>noiommu-5</c>).</summary>
    public int AcquireGroup(string groupName)
    {
        if (_groups.TryGetValue(groupName, out var g))
        {
            _groups[groupName] = (g.Fd, g.Refs + 1);
            return g.Fd.Fd;
        }
        _container ??= OpenContainer();
        var group = Open(Path.Combine(devRoot, "vfio", groupName));
        try
        {
            VfioInterop.GroupStatus status = new() { Argsz = (uint)sizeof(VfioInterop.GroupStatus) };
            if (ioctl(group.Fd, VfioInterop.GroupGetStatus, &status) != 0)
                throw Errno.FromLast($"VFIO_GROUP_GET_STATUS on group {groupName}");
            if ((status.Flags & VfioInterop.GroupFlagsViable) == 0)
                throw new IOException($"vfio group {groupName} is not viable: bind every device of the group to vfio-pci (or unbind it).");
            int cfd = _container.Fd;
            if (ioctl(group.Fd, VfioInterop.GroupSetContainer, &cfd) != 0)
                throw Errno.FromLast($"VFIO_GROUP_SET_CONTAINER for group {groupName}");
            if (!_iommuSet)
            {
                int type = groupName.StartsWith("noiommu-", StringComparison.Ordinal) ? VfioInterop.NoIommuIommu : VfioInterop.Type1v2Iommu;
                if (ioctl(cfd, VfioInterop.SetIommu, type) != 0)
                    throw Errno.FromLast($"VFIO_SET_IOMMU type {type}");
                _iommuSet = true;
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
        if (!_groups.TryGetValue(groupName, out var g))
            return;
        if (g.Refs > 1)
        {
            _groups[groupName] = (g.Fd, g.Refs - 1);
            return;
        }
        _groups.Remove(groupName);
        ioctl(g.Fd.Fd, VfioInterop.GroupUnsetContainer);
        g.Fd.Dispose();
        logger.LogDebug("vfio group {Group} closed", groupName);
        ReleaseContainerIfUnused();
    }

    private void ReleaseContainerIfUnused()
    {
        if (_groups.Count > 0 || _container is null)
            return;
        _container.Dispose();
        _container = null;
        _iommuSet = false;
    }

    private SafeFdHandle OpenContainer()
    {
        var c = Open(Path.Combine(devRoot, "vfio", "vfio"));
        int api = ioctl(c.Fd, VfioInterop.GetApiVersion);
        if (api != VfioInterop.ApiVersion)
        {
            c.Dispose();
            throw new IOException($"Unknown vfio API version {api}.");
        }
        return c;
    }

    internal static SafeFdHandle Open(string path)
    {
        int fd;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
            fd = open(p, O_RDWR | O_CLOEXEC, 0);
        return fd < 0 ? throw Errno.FromLast($"open {path}") : new SafeFdHandle(fd);
    }
}
