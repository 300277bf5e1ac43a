using Hotplug.Tests.Support;
using Hotplug.Testing;
using Hotplug.Pci;

namespace Hotplug.Tests.Pci;

/// <summary>The sysfs reader on fake trees: every odd case the real /sys/bus/pci/devices can show.</summary>
public sealed class SysfsPciScannerTests : IDisposable
{
    private readonly SimulatedPciBus _fs = SimulatedPciBus.Create();

    public void Dispose() => _fs.Dispose();

    private List<PciDeviceInfo> Scan(out List<string> errors)
    {
        errors = [];
        return new SysfsPciScanner(_fs.SysfsRoot).ScanAll(errors);
    }

    private PciDeviceInfo ScanOne(string address)
    {
        var list = Scan(out var errors);
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        return Assert.Single(list, d => d.Address.ToString() == address);
    }

    [Fact]
    public void Reads_ids_class_revision_numa_through_the_symlinked_entry()
    {
        _fs.AddText("0000:01:00.0", vendor: "0x8086", device: "0x10d3", subsystemVendor: "0x8086", subsystemDevice: "0xa01f",
            classCode: "0x020000", revision: "0x1a", numaNode: "1");
        Assert.NotNull(new FileInfo(Path.Combine(_fs.SysfsRoot, "0000:01:00.0")).LinkTarget); // like the real tree

        var d = ScanOne("0000:01:00.0");

        Assert.Equal(PciAddress.Parse("0000:01:00.0"), d.Address);
        Assert.Equal(Path.Combine(_fs.SysfsRoot, "0000:01:00.0"), d.SysfsPath);
        Assert.Equal(0x8086, d.VendorId);   // from the vendor file, not the lying uevent (DEAD:BEEF)
        Assert.Equal(0x10d3, d.DeviceId);
        Assert.Equal((ushort)0x8086, d.SubsystemVendorId);
        Assert.Equal((ushort)0xa01f, d.SubsystemDeviceId);
        Assert.Equal(0x020000u, d.ClassCode);
        Assert.Equal((byte)0x1a, d.Revision);
        Assert.Equal(1, d.NumaNode);
    }

    [Fact]
    public void Parses_a_64_bit_prefetchable_bar_an_io_bar_empty_bars_and_the_rom_and_sriov_lines()
    {
        // A real resource file: 6 BARs, the ROM (line 7), then 6 SR-IOV VF BAR windows (lines 8-13).
        string resource = string.Join('\n',
            "0x00000000fe000000 0x00000000fe7fffff 0x0000000000040200",   // BAR0: 8 MiB, 32-bit memory
            SimulatedPciBus.UnusedResourceLine,                                                // BAR1: unused
            "0x0000380000000000 0x00003800ffffffff 0x000000000014220c",   // BAR2: 4 GiB, 64-bit prefetchable
            SimulatedPciBus.UnusedResourceLine,                                                // BAR3: upper half of BAR2
            "0x000000000000c000 0x000000000000c01f 0x0000000000040101",   // BAR4: 32 bytes of I/O ports
            SimulatedPciBus.UnusedResourceLine,                                                // BAR5
            "0x00000000feb80000 0x00000000febbffff 0x0000000000046200",   // ROM
            "0x0000380100000000 0x00003801003fffff 0x000000000014220c",   // VF BAR0
            SimulatedPciBus.UnusedResourceLine, SimulatedPciBus.UnusedResourceLine, SimulatedPciBus.UnusedResourceLine, SimulatedPciBus.UnusedResourceLine, SimulatedPciBus.UnusedResourceLine) + "\n";
        _fs.AddText("0000:3b:00.0", resource: resource);

        var d = ScanOne("0000:3b:00.0");

        Assert.Equal(13, d.Resources.Count);
        Assert.Equal(Enumerable.Range(0, 13), d.Resources.Select(r => r.Index));
        var bars = d.Bars.ToList();
        Assert.Equal(6, bars.Count);

        Assert.True(bars[0].IsMemory);
        Assert.False(bars[0].Is64Bit);
        Assert.False(bars[0].IsPrefetchable);
        Assert.Equal(8UL << 20, bars[0].Length);
        Assert.Equal(0xfe000000UL, bars[0].Start);

        Assert.False(bars[1].IsPresent);
        Assert.Equal(0UL, bars[1].Length);

        Assert.True(bars[2].IsMemory);
        Assert.True(bars[2].Is64Bit);
        Assert.True(bars[2].IsPrefetchable);
        Assert.False(bars[2].IsIo);
        Assert.Equal(4UL << 30, bars[2].Length);
        Assert.Equal(0x380000000000UL, bars[2].Start);
        Assert.Equal(0x3800ffffffffUL, bars[2].End);

        Assert.False(bars[3].IsPresent);

        Assert.True(bars[4].IsIo);
        Assert.False(bars[4].IsMemory);
        Assert.Equal(32UL, bars[4].Length);

        Assert.Equal(6, d.Resources[6].Index);
        Assert.Equal(256UL << 10, d.Resources[6].Length); // the ROM is not a BAR
        Assert.DoesNotContain(d.Resources[6], d.Bars);
        Assert.True(d.Resources[7].Is64Bit);
        Assert.Equal(4UL << 20, d.Resources[7].Length);
    }

    [Fact]
    public void Parse_resources_accepts_only_start_end_flags_in_hex()
    {
        var ok = SysfsPciScanner.ParseResources("r", "0x1000 0x1fff 0x200\n" + SimulatedPciBus.UnusedResourceLine + "\n");
        Assert.Equal(2, ok.Count);
        Assert.Equal(0x1000UL, ok[0].Length);

        var e = Assert.Throws<SysfsFormatException>(() => SysfsPciScanner.ParseResources("/x/resource", "0x1000 0x1fff 0x200\n0x1000 zz 0x200\n"));
        Assert.Equal("/x/resource", e.Path);
        Assert.Contains("/x/resource", e.Message);
        Assert.Contains("line 2", e.Message);

        Assert.Throws<SysfsFormatException>(() => SysfsPciScanner.ParseResources("r", "0x1000 0x1fff\n"));
        var below = Assert.Throws<SysfsFormatException>(() => SysfsPciScanner.ParseResources("r", "0x2000 0x1fff 0x200\n"));
        Assert.Contains("below start", below.Message);
    }

    [Fact]
    public void Missing_numa_node_is_minus_one()
    {
        _fs.AddText("0000:01:00.0", numaNode: null);
        Assert.Equal(-1, ScanOne("0000:01:00.0").NumaNode);
    }

    [Fact]
    public void Numa_node_minus_one_is_read()
    {
        _fs.AddText("0000:01:00.0", numaNode: "-1");
        _fs.AddText("0000:02:00.0", numaNode: "0");
        Assert.Equal(-1, ScanOne("0000:01:00.0").NumaNode);
        Assert.Equal(0, ScanOne("0000:02:00.0").NumaNode);
    }

    [Fact]
    public void Missing_optional_files_are_null_or_empty_not_invented_values()
    {
        _fs.AddText("0000:01:00.0", subsystemVendor: null, subsystemDevice: null, classCode: null, revision: null, numaNode: null);
        _fs.Entry("0000:01:00.0").WriteAttribute("resource", null);

        var d = ScanOne("0000:01:00.0");

        Assert.Equal(0x8086, d.VendorId);
        Assert.Null(d.SubsystemVendorId);
        Assert.Null(d.SubsystemDeviceId);
        Assert.Null(d.ClassCode);
        Assert.Null(d.Revision);
        Assert.Equal(-1, d.NumaNode); // the kernel's own "no node"
        Assert.Empty(d.Resources);
        Assert.Null(d.KernelDriverName);
        Assert.Equal(PciKernelDriver.None, d.KernelDriver);
        Assert.Null(d.IommuGroup);
        Assert.Null(d.DriverOverride);
        Assert.Null(d.NumVfs);
        Assert.Null(d.TotalVfs);
        Assert.Null(d.UioName);
    }

    [Theory]
    [InlineData("subsystem_vendor", 0)]
    [InlineData("subsystem_device", 1)]
    [InlineData("class", 2)]
    [InlineData("revision", 3)]
    public void One_missing_optional_id_file_is_null_and_zeros_that_are_there_are_read(string file, int missing)
    {
        _fs.AddText("0000:01:00.0", subsystemVendor: "0x0000", subsystemDevice: "0x0000", classCode: "0x000000", revision: "0x00");
        _fs.Entry("0000:01:00.0").WriteAttribute(file, null);

        var d = ScanOne("0000:01:00.0");

        object?[] values = [d.SubsystemVendorId, d.SubsystemDeviceId, d.ClassCode, d.Revision];
        for (int i = 0; i < values.Length; i++)
        {
            if (i == missing)
                Assert.Null(values[i]);
            else
                Assert.Equal(0UL, Convert.ToUInt64(Assert.IsAssignableFrom<IConvertible>(values[i]), System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [Theory]
    [InlineData("vendor")]
    [InlineData("device")]
    public void A_missing_id_file_is_an_error_naming_the_file_and_the_others_are_still_listed(string file)
    {
        _fs.AddText("0000:01:00.0");
        _fs.AddText("0000:02:00.0");
        _fs.Entry("0000:01:00.0").WriteAttribute(file, null);

        var list = Scan(out var errors);

        Assert.Equal(["0000:02:00.0"], list.Select(d => d.Address.ToString()));
        string error = Assert.Single(errors);
        Assert.Contains(_fs.Entry("0000:01:00.0").AttributePath(file), error);
        Assert.Contains("missing", error);
    }

    [Theory]
    [InlineData("vendor")]
    [InlineData("class")]
    [InlineData("numa_node")]
    [InlineData("resource")]
    public void An_unreadable_file_is_an_error_naming_the_file(string file)
    {
        _fs.AddText("0000:01:00.0");
        _fs.AddText("0000:02:00.0");
        _fs.Entry("0000:01:00.0").WriteAttribute(file, null);
        Directory.CreateDirectory(Path.Combine(_fs.Entry("0000:01:00.0").SysfsDirectory, file)); // a directory where a file belongs

        var list = Scan(out var errors);

        Assert.Equal(["0000:02:00.0"], list.Select(d => d.Address.ToString()));
        string error = Assert.Single(errors);
        Assert.Contains(_fs.Entry("0000:01:00.0").AttributePath(file), error);
        Assert.Contains("cannot be read", error);
    }

    [Theory]
    [InlineData("vendor", "0xZZZZ", "0xZZZZ")]
    [InlineData("vendor", "0x12345", "0x12345")]       // too wide for a 16-bit id
    [InlineData("device", "", "expected a hex number")]
    [InlineData("class", "network", "network")]
    [InlineData("revision", "0x100", "0x100")]
    [InlineData("numa_node", "zero", "zero")]
    [InlineData("sriov_numvfs", "4 VFs", "4 VFs")]
    [InlineData("resource", "0xfe000000 0xfe7fffff\n", "line 1")]
    [InlineData("resource", "garbage\x01\x02", "line 1")]
    public void Garbage_is_a_clear_error_naming_the_file_and_the_scan_goes_on(string file, string content, string expected)
    {
        _fs.AddText("0000:00:02.0");
        _fs.AddText("0000:01:00.0");
        _fs.AddText("0000:02:00.0");
        _fs.Entry("0000:01:00.0").WriteAttribute(file, content);

        var list = Scan(out var errors);

        Assert.Equal(["0000:00:02.0", "0000:02:00.0"], list.Select(d => d.Address.ToString()));
        string error = Assert.Single(errors);
        Assert.StartsWith(_fs.Entry("0000:01:00.0").AttributePath(file) + ":", error);
        Assert.Contains(expected, error);
        Assert.DoesNotContain('\x01', error); // control characters are not echoed
    }

    [Fact]
    public void Dot_entries_are_skipped_silently()
    {
        _fs.AddText("0000:01:00.0");
        Directory.CreateDirectory(Path.Combine(_fs.SysfsRoot, ".0000:02:00.0"));
        File.WriteAllText(Path.Combine(_fs.SysfsRoot, ".hidden"), "x");

        var list = Scan(out var errors);

        Assert.Equal(["0000:01:00.0"], list.Select(d => d.Address.ToString()));
        Assert.Empty(errors);
    }

    [Theory]
    [InlineData("pci0000:00", "expected DDDD:BB:DD.F")]
    [InlineData("README", "expected DDDD:BB:DD.F")]
    [InlineData("0000:01:20.0", "device number 0x20 exceeds 0x1f")]
    [InlineData("0000:01:00.9", "function 9 exceeds 7")]
    [InlineData("0000:1ff:00.0", "bus 0x1ff exceeds 0xff")]
    [InlineData("100000000:01:00.0", "domain 0x100000000 exceeds 0xffffffff")]
    public void A_name_that_is_not_an_address_is_skipped_with_the_reason(string name, string why)
    {
        _fs.AddText("0000:01:00.0");
        Directory.CreateDirectory(Path.Combine(_fs.SysfsRoot, name));

        var list = Scan(out var errors);

        Assert.Equal(["0000:01:00.0"], list.Select(d => d.Address.ToString()));
        string error = Assert.Single(errors);
        Assert.StartsWith(Path.Combine(_fs.SysfsRoot, name) + ":", error);
        Assert.Contains("not a PCI address", error);
        Assert.Contains(why, error);
    }

    [Theory]
    [InlineData("0000:0A:00.0", "0000:0a:00.0")]
    [InlineData("1:02:00.0", "0001:02:00.0")]
    [InlineData("03:00.0", "0000:03:00.0")]
    [InlineData("00010000:01:00.0", "10000:01:00.0")]
    public void A_name_that_is_not_canonical_is_an_error_not_a_silent_skip(string name, string canonical)
    {
        _fs.AddText("0000:01:00.0");
        _fs.AddText(name); // the kernel never names a function so; read through its canonical name it would look vanished

        var list = Scan(out var errors);

        Assert.Equal(["0000:01:00.0"], list.Select(d => d.Address.ToString()));
        string error = Assert.Single(errors);
        Assert.StartsWith(Path.Combine(_fs.SysfsRoot, name) + ":", error);
        Assert.Contains($"not the canonical name {canonical}", error);
    }

    [Fact]
    public void A_function_whose_directory_vanished_is_skipped_without_error()
    {
        _fs.AddText("0000:01:00.0");
        _fs.AddText("0000:02:00.0");
        Directory.Delete(_fs.Entry("0000:02:00.0").SysfsDirectory, recursive: true); // the link dangles: removal in progress

        var list = Scan(out var errors);

        Assert.Equal(["0000:01:00.0"], list.Select(d => d.Address.ToString()));
        Assert.Empty(errors);
    }

    [Fact]
    public void Lists_devices_sorted_by_address()
    {
        _fs.AddText("0000:05:00.0").AddText("10000:00:00.0").AddText("0000:00:1f.3").AddText("0001:00:00.0").AddText("0000:05:00.1").AddText("ffff:00:00.0");
        Assert.Equal(["0000:00:1f.3", "0000:05:00.0", "0000:05:00.1", "0001:00:00.0", "ffff:00:00.0", "10000:00:00.0"],
            Scan(out _).Select(d => d.Address.ToString()));
    }

    [Theory]
    [InlineData("uio_pci_generic", PciKernelDriver.UioPciGeneric)]
    [InlineData("igb_uio", PciKernelDriver.IgbUio)]
    [InlineData("vfio-pci", PciKernelDriver.VfioPci)]
    [InlineData("e1000e", PciKernelDriver.Other)]
    [InlineData("nvme", PciKernelDriver.Other)]
    [InlineData(null, PciKernelDriver.None)]
    public void Classifies_the_driver_link(string? driver, PciKernelDriver expected)
    {
        _fs.AddText("0000:01:00.0", driver: driver);
        var d = ScanOne("0000:01:00.0");
        Assert.Equal(expected, d.KernelDriver);
        Assert.Equal(driver, d.KernelDriverName);
    }

    [Fact]
    public void Reads_the_iommu_group_link()
    {
        _fs.AddText("0000:01:00.0", driver: "vfio-pci");
        _fs.Entry("0000:01:00.0").LinkIommuGroup(17);
        _fs.AddText("0000:02:00.0");
        Assert.Equal(17, ScanOne("0000:01:00.0").IommuGroup);
        Assert.Null(ScanOne("0000:02:00.0").IommuGroup);
    }

    [Theory]
    [InlineData("(null)", null)]
    [InlineData("", null)]
    [InlineData("vfio-pci", "vfio-pci")]
    public void Reads_driver_override(string content, string? expected)
    {
        _fs.AddText("0000:01:00.0");
        _fs.Entry("0000:01:00.0").WriteAttribute("driver_override", content);
        Assert.Equal(expected, ScanOne("0000:01:00.0").DriverOverride);
    }

    [Fact]
    public void Reads_sriov_num_vfs_and_total_vfs_and_igb_uios_max_vfs()
    {
        _fs.AddText("0000:01:00.0");
        _fs.Entry("0000:01:00.0").WriteAttribute("sriov_numvfs", "4");
        _fs.Entry("0000:01:00.0").WriteAttribute("sriov_totalvfs", "64");
        _fs.Entry("0000:01:00.0").WriteAttribute("max_vfs", "2"); // sriov_numvfs wins when both exist
        _fs.AddText("0000:02:00.0", driver: "igb_uio");
        _fs.Entry("0000:02:00.0").WriteAttribute("max_vfs", "7");

        var a = ScanOne("0000:01:00.0");
        Assert.Equal(4, a.NumVfs);
        Assert.Equal(64, a.TotalVfs);
        var b = ScanOne("0000:02:00.0");
        Assert.Equal(7, b.NumVfs);
        Assert.Null(b.TotalVfs);
    }

    [Fact]
    public void Reads_the_uio_node()
    {
        _fs.AddText("0000:00:02.0", driver: "igb_uio").AddText("0000:01:00.0", driver: "uio_pci_generic"); // the simulator numbers uio nodes from 0
        Assert.Equal("uio1", ScanOne("0000:01:00.0").UioName);
    }

    [Fact]
    public void A_missing_root_is_an_error_naming_it()
    {
        string root = Path.Combine(_fs.Root, "nope");
        var e = Assert.Throws<SysfsFormatException>(() => new SysfsPciScanner(root).ScanAll([]));
        Assert.Equal(root, e.Path);
        Assert.Contains(root, e.Message);
    }

    [Fact]
    public void Read_throws_directory_not_found_for_an_absent_function()
    {
        var scanner = new SysfsPciScanner(_fs.SysfsRoot);
        Assert.Throws<DirectoryNotFoundException>(() => scanner.Read(PciAddress.Parse("0000:09:00.0")));
        Assert.False(scanner.Exists(PciAddress.Parse("0000:09:00.0")));
    }
}
