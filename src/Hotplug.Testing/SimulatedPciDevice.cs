using System.Globalization;
using System.Text;
using Hotplug.Pci;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Testing;

/// <summary>
/// One simulated PCI function: sysfs files a real scan reads, BARs backed by memfds (sysfs
/// <c>resourceN</c> is a link to the memfd, so the library maps it through the same code path as a real
/// device), and, for uio drivers, a device node that hangs up when the device is pulled.
/// <see cref="Remove"/> is a surprise removal: the next access to a mapped BAR is a real SIGBUS.
/// </summary>
public sealed unsafe class SimulatedPciDevice : IDisposable
{
    private readonly SimulatedPciBus _bus;
    private readonly int[] _memfds;
    private readonly string _dir;
    private readonly string _link;
    private string? _uioNode;

    internal SimulatedPciDevice(SimulatedPciBus bus, PciAddress address, string name, ushort vendorId, ushort deviceId, uint classCode,
        int numaNode, IReadOnlyList<ulong> barSizes, string? kernelDriver, int uio, bool barMemory)
    {
        if (barSizes.Count > 6)
            throw new ArgumentException("A function has at most 6 BARs.", nameof(barSizes));
        _bus = bus;
        Address = address;
        BarSizes = barSizes;
        Name = name;
        _dir = Path.Combine(bus.DevicesDirectory, name);
        _link = Path.Combine(bus.SysfsRoot, name);
        if (Directory.Exists(_dir) || File.Exists(_link))
            throw new InvalidOperationException($"{name} exists already in the simulated tree.");
        Directory.CreateDirectory(_dir);
        Write("vendor", $"0x{vendorId:x4}");
        Write("device", $"0x{deviceId:x4}");
        Write("subsystem_vendor", "0x1af4");
        Write("subsystem_device", "0x1100");
        Write("class", $"0x{classCode:x6}");
        Write("revision", "0x10");
        Write("numa_node", numaNode.ToString(CultureInfo.InvariantCulture));
        Write("driver_override", "(null)");
        Write("uevent", $"PCI_CLASS={classCode:X}\nPCI_ID={vendorId:X4}:{deviceId:X4}\nPCI_SUBSYS_ID=1AF4:1100\nPCI_SLOT_NAME={name}");
        File.WriteAllBytes(Path.Combine(_dir, "config"), ConfigHeader(vendorId, deviceId, classCode));
        _memfds = new int[barSizes.Count];
        var resource = new StringBuilder();
        ulong phys = 0xfe000000UL + ((ulong)address.Bus << 24) + ((ulong)address.Device << 20);
        Array.Fill(_memfds, -1);
        for (int i = 0; i < 6; i++)
        {
            ulong size = i < barSizes.Count ? barSizes[i] : 0;
            if (size == 0)
            {
                resource.Append(SimulatedPciBus.UnusedResourceLine).Append('\n');
                continue;
            }
            if (barMemory)
            {
                _memfds[i] = CreateMemfd($"hotplug-sim-{name}-bar{i}", size);
                File.CreateSymbolicLink(Path.Combine(_dir, $"resource{i}"), $"/proc/{Environment.ProcessId}/fd/{_memfds[i]}");
            }
            resource.Append(CultureInfo.InvariantCulture, $"0x{phys:x16} 0x{phys + size - 1:x16} 0x{0x40200UL:x16}\n");
            phys += Math.Max(size, 0x1000);
        }
        for (int i = 6; i < 13; i++) // the ROM and the 6 VF BARs, as a kernel with SR-IOV support writes them
            resource.Append(SimulatedPciBus.UnusedResourceLine).Append('\n');
        Write("resource", resource.ToString());
        if (kernelDriver is not null)
            BindKernelDriver(kernelDriver, uio);
        File.CreateSymbolicLink(_link, Path.Combine("..", "..", "..", "devices", "pci0000:00", name));
    }

    /// <summary>A type-0 configuration header (256 bytes, as sysfs <c>config</c> shows to root): ids, COMMAND with memory space on, class.</summary>
    private static byte[] ConfigHeader(ushort vendorId, ushort deviceId, uint classCode)
    {
        var c = new byte[256];
        BitConverter.TryWriteBytes(c.AsSpan(0), vendorId);
        BitConverter.TryWriteBytes(c.AsSpan(2), deviceId);
        BitConverter.TryWriteBytes(c.AsSpan(4), (ushort)0x0002); // COMMAND: memory space; bus mastering off, as after a hot-add
        c[8] = 0x10; // revision
        c[9] = (byte)classCode;
        c[10] = (byte)(classCode >> 8);
        c[11] = (byte)(classCode >> 16);
        return c;
    }

    /// <summary>The function's address.</summary>
    public PciAddress Address { get; }

    /// <summary>The entry's name in the tree: the canonical address, or what <see cref="SimulatedPciBus.AddEntry"/> was given.</summary>
    public string Name { get; }

    /// <summary>The function's directory (what the <c>devices/NAME</c> link points to).</summary>
    public string SysfsDirectory => _dir;

    /// <summary>The path of one of its attribute files as a scanner sees it: through the <c>devices/NAME</c> link.</summary>
    public string AttributePath(string file) => Path.Combine(_link, file);

    /// <summary>
    /// Writes an attribute file with arbitrary text (newline-terminated like sysfs), or with null deletes it:
    /// garbage, empty and missing attributes for parser tests, or extra ones (<c>sriov_numvfs</c>, <c>max_vfs</c>...).
    /// The library's view changes at the next scan, as with a real device.
    /// </summary>
    public void WriteAttribute(string file, string? content)
    {
        string path = Path.Combine(_dir, file);
        if (content is null)
        {
            File.Delete(path);
            return;
        }
        Write(file, content);
    }

    /// <summary>Puts the function in an IOMMU group: the <c>iommu_group</c> link to <c>../../../kernel/iommu_groups/N</c> (dangling in the simulated tree; a scan only reads the link).</summary>
    public void LinkIommuGroup(int group) =>
        File.CreateSymbolicLink(Path.Combine(_dir, "iommu_group"), $"../../../kernel/iommu_groups/{group.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>The kernel driver the function is bound to, or null.</summary>
    public string? KernelDriver { get; private set; }

    /// <summary>
    /// Binds the function to a kernel driver, as the kernel does after <c>drivers_probe</c>: the
    /// <c>driver</c> link, and for uio drivers a <c>uio/uioN</c> entry and a device node.
    /// </summary>
    /// <exception cref="InvalidOperationException">It is bound already.</exception>
    public void BindKernelDriver(string driver) => BindKernelDriver(driver, driver is "uio_pci_generic" or "igb_uio" ? _bus.NextUio() : -1);

    private void BindKernelDriver(string driver, int uio)
    {
        if (KernelDriver is not null)
            throw new InvalidOperationException($"{Address} is bound to {KernelDriver} already.");
        KernelDriver = driver;
        File.CreateSymbolicLink(Path.Combine(_dir, "driver"), $"../../../bus/pci/drivers/{driver}");
        if (uio < 0)
            return;
        string name = "uio" + uio.ToString(CultureInfo.InvariantCulture);
        Directory.CreateDirectory(Path.Combine(_dir, "uio", name));
        _uioNode = Path.Combine(_bus.DevRoot, name);
        fixed (byte* p = Encoding.UTF8.GetBytes(_uioNode + "\0"))
            if (mkfifo(p, 0x180) != 0)
                throw new IOException($"mkfifo {_uioNode} failed (errno {errno})");
    }

    /// <summary>
    /// Unbinds the function from its kernel driver, as the kernel does after a write to <c>driver/unbind</c>:
    /// the <c>driver</c> link goes, and for uio drivers the <c>uio</c> entry and the device node (which hangs up).
    /// Nothing happens when it is not bound.
    /// </summary>
    public void UnbindKernelDriver()
    {
        if (KernelDriver is null)
            return;
        KernelDriver = null;
        File.Delete(Path.Combine(_dir, "driver"));
        HangUpUio();
        _uioNode = null;
        if (Directory.Exists(Path.Combine(_dir, "uio")))
            Directory.Delete(Path.Combine(_dir, "uio"), recursive: true);
    }

    /// <summary>
    /// Gives the function a network interface, as a kernel network driver does: <c>net/NAME/operstate</c>
    /// (<c>up</c> or <c>down</c>) and <c>net/NAME/flags</c> (IFF_UP, 0x1, set when <paramref name="up"/>).
    /// Called again with the same name, it changes the state.
    /// </summary>
    public void SetNetInterface(string name, bool up)
    {
        string dir = Path.Combine(_dir, "net", name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "operstate"), up ? "up\n" : "down\n");
        File.WriteAllText(Path.Combine(dir, "flags"), up ? "0x1003\n" : "0x1002\n");
    }

    /// <summary>The BAR sizes it was made with.</summary>
    public IReadOnlyList<ulong> BarSizes { get; }

    /// <summary>True after <see cref="Remove"/>.</summary>
    public bool Removed { get; private set; }

    /// <summary>Sets a 32-bit "register" of a BAR, as the hardware would.</summary>
    public void WriteRegister32(int bar, ulong offset, uint value)
    {
        ThrowIfNoMemory(bar);
        if ((long)pwrite(_memfds[bar], &value, 4, (long)offset) != 4)
            throw new IOException($"pwrite BAR{bar} failed (errno {errno})");
    }

    /// <summary>Reads a 32-bit "register" of a BAR as the hardware sees it.</summary>
    public uint ReadRegister32(int bar, ulong offset)
    {
        ThrowIfNoMemory(bar);
        uint value = 0;
        if ((long)pread(_memfds[bar], &value, 4, (long)offset) != 4)
            throw new IOException($"pread BAR{bar} failed (errno {errno})");
        return value;
    }

    private void ThrowIfNoMemory(int bar)
    {
        if (bar < 0 || bar >= _memfds.Length || _memfds[bar] < 0)
            throw new InvalidOperationException($"BAR{bar} of {Name} has no memory.");
    }

    /// <summary>
    /// Only the BAR memory goes away (like vfio zapping the mappings): the next access to a mapped BAR
    /// raises a real SIGBUS. sysfs and the uio node stay.
    /// </summary>
    public void FailBars()
    {
        foreach (int fd in _memfds)
        {
            if (fd >= 0)
                ftruncate(fd, 0);
        }
    }

    /// <summary>
    /// Surprise removal: the BAR memory goes (SIGBUS on the next access), the uio node hangs up, and the
    /// sysfs entry disappears (a rescan no longer finds it).
    /// </summary>
    public void Remove()
    {
        if (Removed)
            return;
        Removed = true;
        FailBars();
        HangUpUio();
        File.Delete(_link);
        Directory.Delete(_dir, recursive: true);
    }

    private void HangUpUio()
    {
        if (_uioNode is null)
            return;
        // A writer that comes and goes makes the reader's poll report POLLHUP, as uio does on removal.
        int fd;
        fixed (byte* p = Encoding.UTF8.GetBytes(_uioNode + "\0"))
            fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
        if (fd >= 0)
            close(fd);
        File.Delete(_uioNode);
        _bus.UioFreed();
    }

    private void Write(string file, string content) => File.WriteAllText(Path.Combine(_dir, file), content + (content.EndsWith('\n') ? "" : "\n"));

    private static int CreateMemfd(string name, ulong size)
    {
        int fd;
        fixed (byte* p = Encoding.UTF8.GetBytes(name + "\0"))
            fd = memfd_create(p, 1 /* MFD_CLOEXEC */);
        if (fd < 0)
            throw new IOException($"memfd_create failed (errno {errno})");
        if (ftruncate(fd, (long)size) != 0)
            throw new IOException($"ftruncate failed (errno {errno})");
        return fd;
    }

    internal void CloseMemory()
    {
        foreach (int fd in _memfds)
        {
            if (fd >= 0)
                close(fd);
        }
        Array.Fill(_memfds, -1);
    }

    /// <summary>Closes the BAR memfds and removes the device from the tree.</summary>
    public void Dispose()
    {
        if (!Removed)
        {
            Removed = true;
            HangUpUio();
            if (File.Exists(_link) || new FileInfo(_link).LinkTarget is not null)
                File.Delete(_link);
            if (Directory.Exists(_dir))
                Directory.Delete(_dir, recursive: true);
        }
        foreach (int fd in _memfds)
        {
            if (fd >= 0)
                close(fd);
        }
        Array.Fill(_memfds, -1);
        _bus.Forget(this);
    }
}
