using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Xunit.Abstractions;

namespace Hotplug.Tests;

/// <summary>
/// <c>dotnet pack</c> of the library gives a package with the native shim (linux-x64 and linux-arm64), its
/// metadata (license, readme, tags) and a symbols package, and a throw-away app restored from a
/// local folder feed can call into the shim. The package gets a unique version and is restored into a private
/// packages folder, so nothing stale in ~/.nuget/packages can stand in for it. The same for the CLI as a
/// .NET tool: packed, installed with <c>dotnet tool install --tool-path</c> from the feed, and run.
/// </summary>
public sealed class PackageTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromMinutes(3);

    private readonly string _work = Directory.CreateTempSubdirectory("hotplug-pack-").FullName;
    private readonly StringBuilder _log = new();
    private bool _passed;

    public void Dispose()
    {
        if (!_passed)
        {
            output.WriteLine($"kept {_work} for inspection");
            return;
        }
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public void Packed_library_carries_the_shim_and_a_consumer_app_reaches_it()
    {
        string version = "0.0.0-test" + Guid.NewGuid().ToString("N")[..12];
        string feed = Path.Combine(_work, "feed");
        string packages = Path.Combine(_work, "packages");

        // 1. Pack a copy of the library's sources, so the test never touches the working tree's bin/obj.
        string repo = CopySources(Path.Combine(_work, "repo"), "Hotplug");
        Run(repo, "dotnet", "pack", "src/Hotplug", "-c", "Release", "-o", feed, $"-p:Version={version}", "-nodeReuse:false");

        string nupkg = Path.Combine(feed, $"Hotplug.{version}.nupkg");
        Assert.True(File.Exists(nupkg), $"{nupkg} not produced; feed has [{string.Join(", ", Directory.GetFiles(feed))}]\n{_log}");
        using (var zip = ZipFile.OpenRead(nupkg))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToList();
            var shim = zip.GetEntry("runtimes/linux-x64/native/libhotplug_shim.so");
            Assert.True(shim is not null, "the package has no runtimes/linux-x64/native/libhotplug_shim.so:\n" + string.Join("\n", entries));
            Assert.True(shim.Length > 0, "the packaged shim is empty");
            using (var s = shim.Open())
            {
                var magic = new byte[4];
                s.ReadExactly(magic);
                Assert.Equal(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }, magic);
            }
            // The linux-arm64 shim, cross-built with aarch64-linux-gnu-gcc: an ELF for EM_AARCH64 (183).
            var arm64 = zip.GetEntry("runtimes/linux-arm64/native/libhotplug_shim.so");
            Assert.True(arm64 is not null, "the package has no runtimes/linux-arm64/native/libhotplug_shim.so:\n" + string.Join("\n", entries));
            using (var s = arm64.Open())
            {
                var header = new byte[20];
                s.ReadExactly(header);
                Assert.Equal(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }, header[..4]);
                Assert.Equal(183, BitConverter.ToUInt16(header, 18));
            }
            Assert.Contains("lib/net10.0/Hotplug.dll", entries);
            Assert.Contains("README.md", entries);
            Assert.Contains("LICENSE", entries);

            // The metadata every packable project carries (src/Directory.Build.props and the csproj).
            using var nuspec = new StreamReader(zip.GetEntry("Hotplug.nuspec")!.Open());
            string spec = nuspec.ReadToEnd();
            Assert.Contains("<license type=\"expression\">MIT</license>", spec, StringComparison.Ordinal);
            Assert.Contains("<readme>README.md</readme>", spec, StringComparison.Ordinal);
            Assert.Contains("<tags>linux pci hotplug", spec, StringComparison.Ordinal);
            Assert.Contains("<description>Surprise-removal handling", spec, StringComparison.Ordinal);
        }

        // The symbols package, with the portable PDB (sources embedded).
        string snupkg = Path.Combine(feed, $"Hotplug.{version}.snupkg");
        Assert.True(File.Exists(snupkg), $"{snupkg} not produced\n{_log}");
        using (var zip = ZipFile.OpenRead(snupkg))
            Assert.Contains("lib/net10.0/Hotplug.pdb", zip.Entries.Select(e => e.FullName));

        // 2. A throw-away app that references the package from the local feed and calls into the shim.
        string app = Path.Combine(_work, "app");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <!-- The local feed first; the machine's own sources (from its user config) for the dependencies. -->
                <add key="hotplug-local-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        // Stop MSBuild from importing anything above the temp folder.
        File.WriteAllText(Path.Combine(app, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(app, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(app, "ShimCheck.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Hotplug" Version="[{version}]" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            Console.WriteLine("shim version: " + Hotplug.Eal.ShimVersion);
            """);

        Run(app, "dotnet", "restore", "--packages", packages, "-nodeReuse:false");
        Assert.True(Directory.Exists(Path.Combine(packages, "hotplug", version)), $"Hotplug {version} was not restored into {packages}\n{_log}");
        string stdout = Run(app, "dotnet", "run", "--no-restore");

        Assert.True(stdout.Contains("shim version: hotplug_shim ", StringComparison.Ordinal), $"the app did not print the shim version:\n{_log}");
        _passed = true;
    }

    [Fact]
    public void Packed_cli_installs_as_a_dotnet_tool_and_lists_the_sample_tree()
    {
        string version = "0.0.0-test" + Guid.NewGuid().ToString("N")[..12];
        string feed = Path.Combine(_work, "feed");
        string tools = Path.Combine(_work, "tools");

        // 1. Pack a copy of the CLI and what it references (the tool package carries their build output and the shim).
        string repo = CopySources(Path.Combine(_work, "repo"), "Hotplug", "Hotplug.Testing", "Hotplug.Nvme", "Hotplug.Cli");
        Run(repo, "dotnet", "pack", "src/Hotplug.Cli", "-c", "Release", "-o", feed, $"-p:Version={version}", "-nodeReuse:false");
        string nupkg = Path.Combine(feed, $"Hotplug.Cli.{version}.nupkg");
        Assert.True(File.Exists(nupkg), $"{nupkg} not produced; feed has [{string.Join(", ", Directory.GetFiles(feed))}]\n{_log}");
        using (var zip = ZipFile.OpenRead(nupkg))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToList();
            Assert.True(entries.Any(e => e.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal)), "not a tool package:\n" + string.Join("\n", entries));
            Assert.True(entries.Any(e => e.EndsWith("/libhotplug_shim.so", StringComparison.Ordinal)), "the tool has no shim:\n" + string.Join("\n", entries));
        }

        // 2. Install it from the feed only, into a tool path, with a private packages folder (nothing stale stands in).
        File.WriteAllText(Path.Combine(_work, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="hotplug-local-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        var env = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(_work, "packages") };
        Run(_work, env, "dotnet", "tool", "install", "--tool-path", tools, "--configfile", Path.Combine(_work, "NuGet.config"),
            "--add-source", feed, "Hotplug.Cli", "--version", version);

        // 3. The installed command runs and reads the shipped sample tree.
        string sample = Path.Combine(RepoPaths.Root, "docs", "sample-sysfs", "sys", "bus", "pci", "devices");
        // The tool's apphost finds the runtime through DOTNET_ROOT: the one running this test.
        string dotnetRoot = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
        env["DOTNET_ROOT"] = dotnetRoot;
        string stdout = Run(_work, env, Path.Combine(tools, "hotplug"), "list", "--sysfs", sample);
        foreach (string expected in new[] { "0000:00:03.0", "1234:11e8", "uio_pci_generic", "0000:01:00.0", "vfio-pci", "4 PCI function(s)" })
            Assert.True(stdout.Contains(expected, StringComparison.Ordinal), $"'{expected}' missing from the tool's output:\n{_log}");
        _passed = true;
    }

    /// <summary>Copies what building the given projects needs (top-level files, native/, src/PROJECT/ without bin and obj).</summary>
    private static string CopySources(string to, params string[] projects)
    {
        string from = RepoPaths.Root;
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from))
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        CopyTree(Path.Combine(from, "native"), Path.Combine(to, "native"));
        Directory.CreateDirectory(Path.Combine(to, "src"));
        foreach (string f in Directory.GetFiles(Path.Combine(from, "src"))) // src/Directory.Build.props: package metadata
            File.Copy(f, Path.Combine(to, "src", Path.GetFileName(f)));
        foreach (string project in projects)
            CopyTree(Path.Combine(from, "src", project), Path.Combine(to, "src", project));
        return to;
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from))
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (string d in Directory.GetDirectories(from))
        {
            string name = Path.GetFileName(d);
            if (name is "bin" or "obj")
                continue;
            CopyTree(d, Path.Combine(to, name));
        }
    }

    /// <summary>Runs a process to completion (or kills it after <see cref="ProcessTimeout"/>); asserts exit code 0 with all output in the message.</summary>
    private string Run(string directory, string file, params string[] args) => Run(directory, null, file, args);

    private string Run(string directory, Dictionary<string, string>? env, string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        // The test host runs under MSBuild/VSTest: do not leak their settings into the child build.
        foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        psi.Environment["UseSharedCompilation"] = "false"; // no compiler server left running
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in env ?? [])
            psi.Environment[key] = value;

        string command = $"{file} {string.Join(' ', args)} (in {directory})";
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        var clock = Stopwatch.StartNew();
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        bool exited = p.WaitForExit(ProcessTimeout);
        if (!exited)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        else
        {
            p.WaitForExit(); // drain the async readers
        }
        string text = $"$ {command}\nexit {(exited ? p.ExitCode.ToString() : "timeout")} after {clock.Elapsed.TotalSeconds:0.0}s\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}";
        _log.AppendLine(text);
        output.WriteLine(text);
        Assert.True(exited, $"timed out after {ProcessTimeout}:\n{_log}");
        Assert.True(p.ExitCode == 0, $"failed:\n{_log}");
        return stdout.ToString();
    }
}
