using System.CommandLine;
using Hotplug.Cli;
using Hotplug.Testing;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Cli;

/// <summary>
/// <c>hotplug status</c>, <c>bind</c> and <c>unbind</c> (dpdk-devbind parity) on simulated trees: the writes land
/// in the tree, a <see cref="FakeDriverCore"/> plays the kernel, and nothing touches the host's /sys.
/// </summary>
public sealed class DriverCommandTests : IDisposable
{
    private const string Edu = "0000:00:03.0", Nic = "0000:01:00.0", Gpu = "0000:02:00.0", Idle = "0000:03:00.0";

    private readonly SimulatedPciBus _sim = SimulatedPciBus.Create();
    private readonly SimulatedPciDevice _edu, _nic;

    public DriverCommandTests()
    {
        _sim.LoadDrivers("vfio-pci", "uio_pci_generic", "e1000e", "nouveau");
        _edu = _sim.AddDevice(Edu, 0x1234, 0x11e8, [1UL << 20], kernelDriver: null, barMemory: false);
        _nic = _sim.AddDevice(Nic, 0x8086, 0x10d3, [128 << 10], kernelDriver: "e1000e", classCode: 0x020000, barMemory: false);
        _nic.SetNetInterface("eth0", up: true);
        _sim.AddDevice(Gpu, 0x10de, 0x1b80, [16 << 20], kernelDriver: "nouveau", classCode: 0x030000, barMemory: false);
        _sim.AddDevice(Idle, 0x8086, 0x1533, [128 << 10], kernelDriver: "vfio-pci", classCode: 0x020000, barMemory: false);
    }

    public void Dispose() => _sim.Dispose();

    private (int Code, string Out, string Err) Invoke(params string[] args)
    {
        var root = new RootCommand("test") { StatusCommand.Create(), BindCommand.CreateBind(), BindCommand.CreateUnbind() };
        var output = new StringWriter();
        var error = new StringWriter();
        int code = root.Parse([.. args, "--sysfs", _sim.SysfsRoot]).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    private string Attribute(SimulatedPciDevice d, string file) => File.ReadAllText(d.AttributePath(file)).Trim();

    /// <summary>The status output's lines under the heading that starts with <paramref name="heading"/>.</summary>
    private static List<string> Section(string output, string heading) =>
        [.. output.Split('\n').SkipWhile(l => !l.StartsWith(heading, StringComparison.Ordinal)).Skip(2).TakeWhile(l => l.Trim().Length > 0)];

    [Fact]
    public void Status_groups_like_dpdk_devbind_with_interfaces_and_alternatives()
    {
        var (code, output, error) = Invoke("status");

        Assert.True(code == 0, error);
        Assert.Equal("", error);
        string user = Assert.Single(Section(output, "Devices using a user-space driver"));
        Assert.Equal($"{Idle} '8086:1533 network' drv=vfio-pci unused=uio_pci_generic numa_node=0", user);
        var kernel = Section(output, "Devices using a kernel driver");
        Assert.Equal(2, kernel.Count);
        Assert.Equal($"{Nic} '8086:10d3 network' if=eth0 drv=e1000e unused=vfio-pci,uio_pci_generic numa_node=0 *Active*", kernel[0]);
        Assert.StartsWith($"{Gpu} '10de:1b80 display' drv=nouveau", kernel[1]);
        Assert.Equal($"{Edu} '1234:11e8 unassigned' unused=vfio-pci,uio_pci_generic numa_node=0", Assert.Single(Section(output, "Devices using no driver")));
    }

    [Fact]
    public void Status_of_the_shipped_fixture_without_a_drivers_directory()
    {
        string fixture = Path.Combine(RepoPaths.Root, "docs", "sample-sysfs", "sys", "bus", "pci", "devices");
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, StatusCommand.Run(fixture, output, error));
        Assert.Contains("0000:00:03.0 '1234:11e8 unclassified' drv=uio_pci_generic", Section(output.ToString(), "Devices using a user-space driver")[0]);
        Assert.StartsWith("0000:03:00.0 '1b36:000d", Assert.Single(Section(output.ToString(), "Devices using no driver")));
        Assert.Equal(2, Section(output.ToString(), "Devices using a user-space driver").Count);
    }

    [Fact]
    public void Bind_writes_override_and_drivers_probe_into_the_tree_then_status_shows_user_space()
    {
        using var core = new FakeDriverCore(_sim);

        var (code, output, error) = Invoke("bind", "vfio-pci", "00:03.0");

        Assert.True(code == 0, error);
        Assert.Equal($"{Edu}: bound to vfio-pci", output.Trim());
        Assert.Equal("vfio-pci", Attribute(_edu, "driver_override"));
        Assert.NotEmpty(core.Probed);
        Assert.All(core.Probed, p => Assert.Equal(Edu, p)); // once, or again if the core was slow to bind
        Assert.Equal("vfio-pci", _edu.KernelDriver);
        Assert.Contains(Invoke("status").Out.Split('\n'), l => l.StartsWith($"{Edu} '1234:11e8 unassigned' drv=vfio-pci unused=uio_pci_generic", StringComparison.Ordinal));

        // Again: already bound, nothing written. Then to uio_pci_generic: unbound from vfio-pci first.
        Assert.Equal($"{Edu}: already bound to vfio-pci", Invoke("bind", "vfio-pci", Edu).Out.Trim());
        (code, output, error) = Invoke("bind", "uio_pci_generic", Edu);
        Assert.True(code == 0, error);
        Assert.Equal([("vfio-pci", Edu)], core.Unbound);
        Assert.Equal("uio_pci_generic", _edu.KernelDriver);
        Assert.Equal("uio_pci_generic", Attribute(_edu, "driver_override"));
    }

    [Fact]
    public void Bind_probes_again_when_the_kernel_ignored_the_first_probe_of_a_function_it_has_just_added()
    {
        using var core = new FakeDriverCore(_sim) { IgnoreFirstProbes = 1 }; // drivers_autoprobe 0: nothing else binds it

        var (code, output, error) = Invoke("bind", "vfio-pci", Edu);

        Assert.True(code == 0, $"{error}; probes: {string.Join(", ", core.Probed)}");
        Assert.Equal($"{Edu}: bound to vfio-pci", output.Trim());
        Assert.Equal("vfio-pci", _edu.KernelDriver);
        Assert.True(core.Probed.Count >= 2, $"probes: {string.Join(", ", core.Probed)}");
    }

    [Fact]
    public void Unbind_writes_driver_unbind_and_clears_the_override()
    {
        using var core = new FakeDriverCore(_sim);
        Assert.Equal(0, Invoke("bind", "vfio-pci", Edu).Code);

        var (code, output, error) = Invoke("unbind", Edu);

        Assert.True(code == 0, error);
        Assert.Equal($"{Edu}: unbound", output.Trim());
        Assert.Equal([("vfio-pci", Edu)], core.Unbound);
        Assert.Null(_edu.KernelDriver);
        Assert.Equal("", Attribute(_edu, "driver_override"));
        Assert.Contains($"{Edu} '1234:11e8 unassigned' unused", Assert.Single(Section(Invoke("status").Out, "Devices using no driver")));
        Assert.Equal($"{Edu}: not bound to any driver", Invoke("unbind", Edu).Out.Trim());
    }

    [Fact]
    public void A_device_whose_interface_is_up_is_refused_unless_forced()
    {
        using var core = new FakeDriverCore(_sim);

        var (code, _, error) = Invoke("bind", "vfio-pci", "eth0");
        Assert.Equal(1, code);
        Assert.Contains($"{Nic}: network interface eth0 is up", error);
        Assert.Contains("--force", error);
        Assert.Equal("(null)", Attribute(_nic, "driver_override")); // nothing written
        Assert.Empty(core.Unbound);
        Assert.Equal(1, Invoke("unbind", Nic).Code);
        Assert.Equal("e1000e", _nic.KernelDriver);

        (code, _, error) = Invoke("bind", "vfio-pci", Nic, "--force");
        Assert.True(code == 0, error);
        Assert.Equal([("e1000e", Nic)], core.Unbound);
        Assert.Equal("vfio-pci", _nic.KernelDriver);

        _nic.SetNetInterface("eth0", up: false); // a downed interface needs no force
        Assert.Equal(0, Invoke("unbind", Nic).Code);
    }

    [Fact]
    public void Unknown_devices_and_missing_drivers_are_clear_errors_and_the_rest_still_run()
    {
        using var core = new FakeDriverCore(_sim);

        var (code, output, error) = Invoke("bind", "igb_uio", Edu);
        Assert.Equal(1, code);
        Assert.Contains("driver 'igb_uio' is not loaded", error);
        Assert.Contains("modprobe igb_uio", error);

        (code, output, error) = Invoke("bind", "vfio-pci", "0000:09:00.0", "nosuch0", Edu);
        Assert.Equal(1, code);
        Assert.Contains($"no PCI function 0000:09:00.0 in {_sim.SysfsRoot}", error);
        Assert.Contains("'nosuch0' is neither a PCI address nor the network interface", error);
        Assert.Equal($"{Edu}: bound to vfio-pci", output.Trim()); // the good one was still bound
    }

    [Fact]
    public void A_kernel_that_does_not_bind_is_reported()
    {
        // No driver core: drivers_probe is written but no driver link appears.
        var control = new PciDriverControl(_sim.SysfsRoot) { SettleTimeout = TimeSpan.FromMilliseconds(50) };
        var e = Assert.Throws<PciDriverControlException>(() => control.Bind(_edu.Address, "vfio-pci"));
        Assert.Contains("the kernel did not bind it to vfio-pci (driver now: none", e.Message);
        Assert.Equal(Edu, File.ReadAllText(Path.Combine(_sim.DriversRoot, "..", "drivers_probe")));
    }
}
