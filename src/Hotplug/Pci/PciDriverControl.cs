using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotplug.Pci;

/// <summary>
/// What <c>dpdk-devbind.py</c> does, on a sysfs tree: the functions grouped by the kind of driver they are
/// bound to (<see cref="Status"/>), and binding and unbinding them (<see cref="Bind"/>, <see cref="Unbind"/>).
/// </summary>
/// <remarks>
/// Every path is relative to <see cref="DevicesRoot"/>: <c>ROOT/ADDR/driver_override</c>,
/// <c>ROOT/ADDR/driver/unbind</c>, <c>ROOT/../drivers_probe</c>, <c>ROOT/../drivers/NAME</c>. Pointed at a fake
/// tree, it writes only into that tree. Like dpdk-devbind it refuses to take a function whose network interface
/// is up (IFF_UP in <c>net/IF/flags</c>, or <c>operstate</c> up) unless forced. A bind leaves
/// <c>driver_override</c> set (the function stays with that driver across re-probes); an unbind clears it.
/// </remarks>
public sealed class PciDriverControl
{
    private readonly ILogger _logger;

    /// <summary>The drivers through which an app drives a function from user space, as dpdk-devbind's DPDK drivers.</summary>
    public static IReadOnlyList<string> UserSpaceDrivers { get; } = ["vfio-pci", "uio_pci_generic", "igb_uio"];

    /// <summary>Works on the PCI devices directory <paramref name="devicesRoot"/> (for example <c>/sys/bus/pci/devices</c>).</summary>
    public PciDriverControl(string devicesRoot, ILogger? logger = null)
    {
        DevicesRoot = Path.TrimEndingDirectorySeparator(devicesRoot);
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The PCI devices directory.</summary>
    public string DevicesRoot { get; }

    /// <summary>The bus's drivers directory, <c>ROOT/../drivers</c>: a driver is loaded when its directory is there.</summary>
    public string DriversDirectory => Path.Combine(BusDirectory, "drivers");

    private string BusDirectory => Path.GetDirectoryName(DevicesRoot) ?? "/";

    /// <summary>How long <see cref="Bind"/> and <see cref="Unbind"/> wait for the kernel's <c>driver</c> link to show the result (2 s).</summary>
    public TimeSpan SettleTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>True if <paramref name="driver"/> is loaded: <c>ROOT/../drivers/DRIVER</c> exists.</summary>
    public bool IsLoaded(string driver) =>
        driver.Length > 0 && !driver.Contains('/', StringComparison.Ordinal) && Directory.Exists(Path.Combine(DriversDirectory, driver));

    /// <summary>The group of a kernel driver kind: user-space for vfio-pci and the uio drivers.</summary>
    public static PciDriverGroup GroupOf(PciKernelDriver driver) => driver switch
    {
        PciKernelDriver.None => PciDriverGroup.None,
        PciKernelDriver.Other => PciDriverGroup.Kernel,
        _ => PciDriverGroup.UserSpace,
    };

    /// <summary>Every function under <see cref="DevicesRoot"/> with its group, alternatives and interfaces; bad entries go to <paramref name="warnings"/>.</summary>
    /// <exception cref="SysfsFormatException">The devices directory cannot be listed.</exception>
    public List<PciDriverStatus> Status(List<string> warnings)
    {
        var scanner = new SysfsPciScanner(DevicesRoot);
        return [.. scanner.ScanAll(warnings).Select(StatusOf)];
    }

    /// <summary>One function's status.</summary>
    /// <exception cref="PciDriverControlException">There is no such function.</exception>
    public PciDriverStatus Get(PciAddress address) => StatusOf(ReadInfo(address));

    /// <summary>
    /// A function named as dpdk-devbind accepts it: a full address (<c>0000:01:00.0</c>), one without the domain
    /// (<c>01:00.0</c>, domain 0), or the name of its network interface (<c>eth0</c>).
    /// </summary>
    /// <exception cref="PciDriverControlException">Nothing by that name.</exception>
    public PciAddress Resolve(string name)
    {
        if (PciAddress.TryParse(name, out var address) || PciAddress.TryParse("0000:" + name, out address))
            return address;
        var warnings = new List<string>();
        List<PciDriverStatus> all;
        try
        {
            all = Status(warnings);
        }
        catch (SysfsFormatException e)
        {
            throw new PciDriverControlException(e.Message, e);
        }
        return all.FirstOrDefault(s => s.Interfaces.Any(i => i.Name == name))?.Info.Address
               ?? throw new PciDriverControlException($"'{name}' is neither a PCI address nor the network interface of a function in {DevicesRoot}");
    }

    /// <summary>
    /// Binds the function to <paramref name="driver"/>: unbinds it from its current driver, writes the driver to
    /// <c>driver_override</c> and the address to <c>drivers_probe</c>, then waits up to <see cref="SettleTimeout"/>
    /// for the kernel to bind it. Returns false if it was bound to that driver already (nothing written).
    /// </summary>
    /// <exception cref="PciDriverControlException">
    /// No such function; the driver is not loaded; a network interface of the function is up and
    /// <paramref name="force"/> is false; a sysfs write failed; or the kernel did not bind it.
    /// </exception>
    public bool Bind(PciAddress address, string driver, bool force = false)
    {
        var status = Get(address);
        if (!IsLoaded(driver))
            throw new PciDriverControlException($"driver '{driver}' is not loaded: there is no {Path.Combine(DriversDirectory, driver)} (modprobe {driver.Replace('-', '_')})");
        if (status.Info.KernelDriverName == driver)
            return false;
        RefuseIfUp(status, force, $"bind it to {driver}");
        if (status.Info.KernelDriverName is not null)
            UnbindCurrent(status);
        string dir = Path.Combine(DevicesRoot, address.ToString());
        Write(Path.Combine(dir, "driver_override"), driver, address);
        string probe = Path.Combine(BusDirectory, "drivers_probe");
        Write(probe, address.ToString(), address);
        // A function the kernel has only just added (its ADD uevent) is not matched to drivers yet: a probe that
        // early binds nothing, and with drivers_autoprobe 0 nothing else will. Probe again until it binds.
        string? now = WaitForDriver(address, d => d == driver, () => ProbeAgain(probe, address));
        if (now != driver)
            throw new PciDriverControlException($"{address}: the kernel did not bind it to {driver} (driver now: {now ?? "none"}; see dmesg)");
        _logger.LogInformation("{Device}: bound to {Driver}", address, driver);
        return true;
    }

    /// <summary>
    /// Unbinds the function from its driver (<c>driver/unbind</c>) and clears its <c>driver_override</c>, so no
    /// re-probe binds it again. Returns false if it was bound to no driver (nothing written).
    /// </summary>
    /// <exception cref="PciDriverControlException">
    /// No such function; a network interface is up and <paramref name="force"/> is false; a write failed; or the
    /// function is still bound after <see cref="SettleTimeout"/>.
    /// </exception>
    public bool Unbind(PciAddress address, bool force = false)
    {
        var status = Get(address);
        if (status.Info.KernelDriverName is null)
            return false;
        RefuseIfUp(status, force, $"unbind it from {status.Info.KernelDriverName}");
        UnbindCurrent(status);
        Write(Path.Combine(DevicesRoot, address.ToString(), "driver_override"), "\n", address);
        _logger.LogInformation("{Device}: unbound from {Driver}", address, status.Info.KernelDriverName);
        return true;
    }

    private void UnbindCurrent(PciDriverStatus status)
    {
        var address = status.Info.Address;
        Write(Path.Combine(DevicesRoot, address.ToString(), "driver", "unbind"), address.ToString(), address);
        string? left = WaitForDriver(address, d => d is null);
        if (left is not null)
            throw new PciDriverControlException($"{address}: still bound to {left} after writing to its driver/unbind");
    }

    private static void RefuseIfUp(PciDriverStatus status, bool force, string what)
    {
        var up = status.Interfaces.Where(i => i.IsUp).Select(i => i.Name).ToList();
        if (up.Count > 0 && !force)
            throw new PciDriverControlException(
                $"{status.Info.Address}: network interface {string.Join(", ", up)} is up; not going to {what} (bring it down, or force)")
            {
                InterfaceUp = true,
            };
    }

    private static void Write(string path, string text, PciAddress address)
    {
        try
        {
            File.WriteAllText(path, text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PciDriverControlException($"{address}: writing '{text.Trim()}' to {path} failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Waits until the function's <c>driver</c> link satisfies <paramref name="done"/> or the settle time passes; returns
    /// the last value. Woken by the kernel's bind / unbind uevent for the function; looks again every 50 ms all the
    /// same (a simulated tree, or a network namespace that gets no kernel uevents), and <paramref name="again"/> (a new
    /// probe) runs then.
    /// </summary>
    private string? WaitForDriver(PciAddress address, Func<string?, bool> done, Action? again = null)
    {
        var interval = TimeSpan.FromMilliseconds(50);
        using var events = new DriverLinkEvents(address, _logger); // open before the first look: nothing falls between
        var deadline = DateTime.UtcNow + SettleTimeout;
        var nextTick = DateTime.UtcNow + interval;
        while (true)
        {
            string? now = ReadInfo(address).KernelDriverName;
            var time = DateTime.UtcNow;
            if (done(now) || time >= deadline)
                return now;
            if (time >= nextTick)
            {
                nextTick = time + interval;
                if (again is not null)
                {
                    again();
                    continue; // a probe binds synchronously: look again at once
                }
            }
            events.Wait((nextTick < deadline ? nextTick : deadline) - time);
        }
    }

    private void ProbeAgain(string probe, PciAddress address)
    {
        try
        {
            File.WriteAllText(probe, address.ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogDebug("{Device}: drivers_probe again failed: {Error}", address, e.Message);
        }
    }

    private PciDeviceInfo ReadInfo(PciAddress address)
    {
        try
        {
            return new SysfsPciScanner(DevicesRoot).Read(address);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new PciDriverControlException($"no PCI function {address} in {DevicesRoot}", e);
        }
        catch (SysfsFormatException e)
        {
            throw new PciDriverControlException(e.Message, e);
        }
    }

    private PciDriverStatus StatusOf(PciDeviceInfo info)
    {
        var unused = UserSpaceDrivers.Where(d => d != info.KernelDriverName && IsLoaded(d)).ToList();
        if (info.DriverOverride is { } o && o != info.KernelDriverName && !unused.Contains(o) && IsLoaded(o))
            unused.Insert(0, o);
        return new PciDriverStatus(info, GroupOf(info.KernelDriver), unused, NetInterfaces(info.SysfsPath));
    }

    private static List<PciNetInterface> NetInterfaces(string deviceDir)
    {
        string net = Path.Combine(deviceDir, "net");
        if (!Directory.Exists(net))
            return [];
        var list = new List<PciNetInterface>();
        foreach (string dir in Directory.EnumerateDirectories(net).Order(StringComparer.Ordinal))
        {
            string? oper = ReadOptional(Path.Combine(dir, "operstate"));
            string? flagsText = ReadOptional(Path.Combine(dir, "flags"));
            bool adminUp = flagsText is not null
                           && uint.TryParse(flagsText.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? flagsText[2..] : flagsText,
                               NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint flags)
                           && (flags & 0x1) != 0; // IFF_UP
            list.Add(new PciNetInterface(Path.GetFileName(dir), oper, adminUp || oper == "up"));
        }
        return list;
    }

    private static string? ReadOptional(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>The groups of <c>dpdk-devbind.py --status</c>.</summary>
public enum PciDriverGroup
{
    /// <summary>Bound to a user-space driver: vfio-pci, uio_pci_generic, igb_uio.</summary>
    UserSpace,
    /// <summary>Bound to a kernel driver: the kernel drives it.</summary>
    Kernel,
    /// <summary>Bound to no driver.</summary>
    None,
}

/// <summary>A network interface of a PCI function (<c>net/NAME</c> under its sysfs directory).</summary>
/// <param name="Name">The interface name (<c>eth0</c>).</param>
/// <param name="OperState">Its <c>operstate</c> (<c>up</c>, <c>down</c>, <c>unknown</c>...), or null when unreadable.</param>
/// <param name="IsUp">Administratively up (IFF_UP in <c>flags</c>) or operationally up: the kernel is using it.</param>
public sealed record PciNetInterface(string Name, string? OperState, bool IsUp);

/// <summary>One function as <see cref="PciDriverControl.Status"/> reports it.</summary>
/// <param name="Info">What sysfs says about it.</param>
/// <param name="Group">The kind of driver it is bound to.</param>
/// <param name="Unused">Loaded drivers it could be bound to instead: its <c>driver_override</c>, then the loaded user-space drivers.</param>
/// <param name="Interfaces">Its network interfaces.</param>
public sealed record PciDriverStatus(PciDeviceInfo Info, PciDriverGroup Group, IReadOnlyList<string> Unused, IReadOnlyList<PciNetInterface> Interfaces);

/// <summary>A bind, unbind or lookup of <see cref="PciDriverControl"/> failed; the message says why, for a person.</summary>
public sealed class PciDriverControlException(string message, Exception? inner = null) : HotplugException(message, inner)
{
    /// <summary>True when it was refused because a network interface of the function is up: forcing would do it.</summary>
    public bool InterfaceUp { get; init; }
}
