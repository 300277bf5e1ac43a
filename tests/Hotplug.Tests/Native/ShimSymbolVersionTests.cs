namespace Hotplug.Tests.Native;

/// <summary>
/// The shim must load on every glibc the library supports (RHEL 8 and Ubuntu 20.04 ship 2.28 and 2.31; the
/// floor is 2.17, the first glibc of aarch64): the built <c>libhotplug_shim.so</c> may import no symbol
/// version newer than GLIBC_2.17, whatever glibc it was built against.
/// </summary>
public class ShimSymbolVersionTests
{
    private static readonly Version Newest = new(2, 17);

    /// <summary>The library the tests load: the build copies artifacts/native/libhotplug_shim.so next to the tests.</summary>
    private static string ShimPath => Path.Combine(AppContext.BaseDirectory, "libhotplug_shim.so");

    /// <summary>The linux-arm64 library the package carries (cross-built with aarch64-linux-gnu-gcc).</summary>
    private static string Arm64ShimPath => Path.Combine(RepoPaths.Root, "artifacts", "native", "linux-arm64", "libhotplug_shim.so");

    [Fact]
    public void The_built_shim_needs_no_glibc_version_newer_than_2_17() => CheckGlibcFloor(ShimPath);

    /// <summary>2.17 is exactly aarch64's first glibc: the arm64 build must not need anything newer either.</summary>
    [Fact]
    public void The_arm64_shim_needs_no_glibc_version_newer_than_2_17() => CheckGlibcFloor(Arm64ShimPath);

    private static void CheckGlibcFloor(string shimPath)
    {
        Assert.True(File.Exists(shimPath), $"{shimPath} was not built");
        var needs = ElfVersionNeeds.Read(shimPath);
        var glibc = needs.Where(n => n.Version.StartsWith("GLIBC_", StringComparison.Ordinal)).ToList();

        // Not vacuous: the reader found the shim's libc imports and which symbols use them.
        Assert.True(glibc.Count > 0, $"no GLIBC_ version needs read from {shimPath}: [{Describe(needs)}]");
        Assert.Contains(glibc, n => n.Symbols.Contains("mmap"));

        var tooNew = glibc.Where(n => ParseGlibc(n.Version) is not { } v || v > Newest).ToList();
        Assert.True(tooNew.Count == 0,
            $"{shimPath} needs glibc versions newer than GLIBC_{Newest}: [{Describe(tooNew)}]; all needs: [{Describe(needs)}]");
    }

    [Theory]
    [InlineData("GLIBC_2.2.5", "2.2.5")]
    [InlineData("GLIBC_2.17", "2.17")]
    [InlineData("GLIBC_2.34", "2.34")]
    [InlineData("GLIBC_PRIVATE", null)]
    public void Glibc_version_names_parse_to_comparable_versions(string name, string? expected)
    {
        Assert.Equal(expected is null ? null : Version.Parse(expected), ParseGlibc(name));
    }

    [Fact]
    public void Versions_compare_numerically_not_as_text()
    {
        Assert.True(ParseGlibc("GLIBC_2.2.5") < Newest);
        Assert.True(ParseGlibc("GLIBC_2.7") < Newest);
        Assert.True(ParseGlibc("GLIBC_2.27") > Newest);
        Assert.False(ParseGlibc("GLIBC_2.17") > Newest);
    }

    /// <summary>GLIBC_2.2.5 -> 2.2.5; null for a name that is not a number (GLIBC_PRIVATE: never portable).</summary>
    private static Version? ParseGlibc(string name) =>
        Version.TryParse(name["GLIBC_".Length..], out var v) ? v : null;

    private static string Describe(IEnumerable<VersionNeed> needs) =>
        string.Join("; ", needs.Select(n => $"{n.Version} from {n.File}: {string.Join(", ", n.Symbols)}"));
}
