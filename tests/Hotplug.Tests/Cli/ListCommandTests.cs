using Hotplug.Tests.Support;
using Hotplug.Testing;
using System.CommandLine;
using System.Text.Json;
using Hotplug.Cli;
using Hotplug.Pci;
using Hotplug.Tests.Pci;

namespace Hotplug.Tests.Cli;

/// <summary><c>hotplug list</c> against the shipped fixture (docs/sample-sysfs) and fake trees, in process.</summary>
public class ListCommandTests
{
    private static readonly string[] FixtureAddresses = ["0000:00:03.0", "0000:01:00.0", "0000:02:00.0", "0000:03:00.0"];

    private static string FixtureRoot => Path.Combine(RepoPaths.Root, "docs", "sample-sysfs", "sys", "bus", "pci", "devices");

    /// <summary>Runs <c>hotplug list ARGS</c> through the command line parser, with output captured.</summary>
    private static (int Code, string Out, string Err) Invoke(params string[] args)
    {
        var root = new RootCommand("test") { ListCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        int code = root.Parse(["list", .. args]).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void The_fixture_is_a_symlinked_tree_like_the_real_one()
    {
        var entries = Directory.GetFileSystemEntries(FixtureRoot).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(FixtureAddresses, entries);
        Assert.All(Directory.GetFileSystemEntries(FixtureRoot), e => Assert.StartsWith("../../../devices/", new FileInfo(e).LinkTarget));
    }

    [Fact]
    public void Lists_the_fixture_as_a_table()
    {
        var (code, output, error) = Invoke("--sysfs", FixtureRoot);

        Assert.True(code == 0, error);
        Assert.Equal("", error);
        foreach (string a in FixtureAddresses)
            Assert.Contains(a, output);
        var lines = output.Split('\n');
        string Row(string address) => Assert.Single(lines, l => l.Contains(address));
        Assert.Contains("1234:11e8", Row("0000:00:03.0"));
        Assert.Contains("uio_pci_generic", Row("0000:00:03.0"));
        Assert.Contains("1 MiB mem32", Row("0000:00:03.0"));
        Assert.Matches(@"│ -\s+│ 0: 1 MiB", Row("0000:00:03.0"));      // numa_node -1 shows as '-'
        Assert.Contains("8086:10d3", Row("0000:01:00.0"));
        Assert.Contains("8086:a01f", Row("0000:01:00.0"));
        Assert.Contains("020000 network", Row("0000:01:00.0"));
        Assert.Contains("vfio-pci", Row("0000:01:00.0"));
        Assert.Matches(@"│ 12\s+│\s*$", Row("0000:01:00.0").TrimEnd());   // iommu group
        Assert.Contains("nouveau", Row("0000:02:00.0"));
        Assert.Contains("256 MiB mem64 pref", output);
        Assert.Contains("128 B io", output);
        Assert.Contains("32 B io", output);
        Assert.Contains("none", Row("0000:03:00.0"));
        Assert.Contains("4 PCI function(s)", output);
        Assert.DoesNotContain("\x1b[", output); // no ANSI escapes when captured
    }

    [Fact]
    public void Lists_the_fixture_as_json()
    {
        var (code, output, error) = Invoke("--sysfs", FixtureRoot, "--json");

        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        var devices = doc.RootElement.GetProperty("devices").EnumerateArray().ToList();
        Assert.Equal(FixtureAddresses, devices.Select(d => d.GetProperty("address").GetString()));
        Assert.Empty(doc.RootElement.GetProperty("warnings").EnumerateArray());

        var nic = devices[1];
        Assert.Equal("8086", nic.GetProperty("vendor").GetString());
        Assert.Equal("10d3", nic.GetProperty("device").GetString());
        Assert.Equal("vfio-pci", nic.GetProperty("driver").GetString());
        Assert.Equal("VfioPci", nic.GetProperty("driverKind").GetString());
        Assert.Equal(12, nic.GetProperty("iommuGroup").GetInt32());

        var gpu = devices[2];
        var bars = gpu.GetProperty("bars").EnumerateArray().ToList();
        Assert.Equal([0, 1, 3, 5], bars.Select(b => b.GetProperty("index").GetInt32()));
        Assert.True(bars[1].GetProperty("is64Bit").GetBoolean());
        Assert.True(bars[1].GetProperty("prefetchable").GetBoolean());
        Assert.Equal(256UL << 20, bars[1].GetProperty("size").GetUInt64());
        Assert.Equal("io", bars[3].GetProperty("kind").GetString());
        Assert.Equal(128UL, bars[3].GetProperty("size").GetUInt64());

        var edu = devices[0];
        Assert.Equal(-1, edu.GetProperty("numaNode").GetInt32());
        Assert.Equal("uio0", edu.GetProperty("uio").GetString());
        var none = devices[3];
        Assert.Equal(JsonValueKind.Null, none.GetProperty("driver").ValueKind);
        Assert.Equal("None", none.GetProperty("driverKind").GetString());
    }

    [Fact]
    public void Scan_errors_are_warnings_and_the_other_devices_are_listed()
    {
        using var fs = SimulatedPciBus.Create();
        fs.AddText("0000:01:00.0").AddText("0000:02:00.0");
        fs.Entry("0000:01:00.0").WriteAttribute("class", "not hex");

        var (code, output, error) = Invoke("--sysfs", fs.SysfsRoot);

        Assert.Equal(0, code);
        Assert.Contains("warning: " + fs.Entry("0000:01:00.0").AttributePath("class"), error);
        Assert.Contains("0000:02:00.0", output);
        Assert.DoesNotContain("0000:01:00.0", output);

        var json = Invoke("--sysfs", fs.SysfsRoot, "--json");
        Assert.Equal(0, json.Code);
        using var doc = JsonDocument.Parse(json.Out);
        Assert.Contains(fs.Entry("0000:01:00.0").AttributePath("class"), Assert.Single(doc.RootElement.GetProperty("warnings").EnumerateArray()).GetString());
    }

    [Theory]
    [InlineData("revision", "revision", "Rev", "-")]
    [InlineData("class", "class", "Class", "-")]
    [InlineData("subsystem_vendor", "subsystemVendor", "Subsystem", "-:a01f")]
    [InlineData("subsystem_device", "subsystemDevice", "Subsystem", "8086:-")]
    public void A_missing_optional_file_is_null_in_json_and_a_dash_in_the_table(string file, string property, string column, string cell)
    {
        using var fs = SimulatedPciBus.Create();
        fs.AddText("0000:01:00.0", revision: "0x1a").AddText("0000:02:00.0", revision: "0x1a");
        fs.Entry("0000:01:00.0").WriteAttribute(file, null);

        var json = Invoke("--sysfs", fs.SysfsRoot, "--json");
        Assert.True(json.Code == 0, json.Err);
        Assert.Equal("", json.Err);
        using var doc = JsonDocument.Parse(json.Out);
        var devices = doc.RootElement.GetProperty("devices").EnumerateArray().ToList();
        Assert.Equal(JsonValueKind.Null, devices[0].GetProperty(property).ValueKind);
        Assert.Equal(JsonValueKind.String, devices[1].GetProperty(property).ValueKind);
        Assert.Equal("1a", devices[1].GetProperty("revision").GetString());

        var table = Invoke("--sysfs", fs.SysfsRoot);
        Assert.Equal(cell, Cells(table.Out, "0000:01:00.0")[column]);
        Assert.NotEqual(cell, Cells(table.Out, "0000:02:00.0")[column]);
        Assert.Equal("1a", Cells(table.Out, "0000:02:00.0")["Rev"]);
    }

    [Fact]
    public void Lists_functions_in_domains_wider_than_16_bits_and_says_why_a_name_is_not_an_address()
    {
        using var fs = SimulatedPciBus.Create();
        fs.AddText("10000:01:00.0").AddText("0000:01:00.0");
        Directory.CreateDirectory(Path.Combine(fs.SysfsRoot, "0000:01:20.0"));

        var (code, output, error) = Invoke("--sysfs", fs.SysfsRoot);
        Assert.Equal(0, code);
        Assert.Equal("8086:10d3", Cells(output, "10000:01:00.0")["Vendor:Device"]);
        Assert.Contains("2 PCI function(s)", output);
        Assert.Contains("0000:01:20.0: not a PCI address (device number 0x20 exceeds 0x1f)", error);

        var json = Invoke("--sysfs", fs.SysfsRoot, "--json");
        using var doc = JsonDocument.Parse(json.Out);
        Assert.Equal(["0000:01:00.0", "10000:01:00.0"],
            doc.RootElement.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("address").GetString()));
    }

    /// <summary>The table row of <paramref name="address"/>, cell by column header (one-line rows only).</summary>
    private static Dictionary<string, string> Cells(string table, string address)
    {
        var lines = table.Split('\n');
        static string[] Split(string line) => [.. line.Split('│').Skip(1).SkipLast(1).Select(c => c.Trim())];
        var headers = Split(Assert.Single(lines, l => l.Contains("│ Address")));
        var row = Split(Assert.Single(lines, l => l.Contains($"│ {address} ")));
        Assert.Equal(headers.Length, row.Length);
        return headers.Zip(row).ToDictionary(p => p.First, p => p.Second);
    }

    [Fact]
    public void An_unreadable_root_is_an_error()
    {
        string root = Path.Combine(Path.GetTempPath(), "hotplug-no-such-dir-" + Guid.NewGuid().ToString("N"));
        var (code, output, error) = Invoke("--sysfs", root);
        Assert.NotEqual(0, code);
        Assert.Contains(root, error);
        Assert.Equal("", output);
    }

    [Fact]
    public void Without_sysfs_the_environment_variable_chooses_the_root()
    {
        string? saved = Environment.GetEnvironmentVariable(PciBusOptions.SysfsRootVariable);
        Environment.SetEnvironmentVariable(PciBusOptions.SysfsRootVariable, FixtureRoot);
        try
        {
            var (code, output, error) = Invoke("--json");
            Assert.True(code == 0, error);
            using var doc = JsonDocument.Parse(output);
            Assert.Equal(FixtureRoot, doc.RootElement.GetProperty("root").GetString());
            Assert.Equal(4, doc.RootElement.GetProperty("devices").GetArrayLength());
        }
        finally
        {
            Environment.SetEnvironmentVariable(PciBusOptions.SysfsRootVariable, saved);
        }
    }

    [Theory]
    [InlineData(0UL, "0 B")]
    [InlineData(32UL, "32 B")]
    [InlineData(4096UL, "4 KiB")]
    [InlineData(1536UL, "1.5 KiB")]
    [InlineData(1UL << 20, "1 MiB")]
    [InlineData(3UL << 20, "3 MiB")]
    [InlineData(4UL << 30, "4 GiB")]
    [InlineData(1UL << 40, "1 TiB")]
    public void Sizes_are_human_readable(ulong bytes, string expected) => Assert.Equal(expected, ListCommand.HumanSize(bytes));
}
