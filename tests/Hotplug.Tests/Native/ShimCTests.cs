using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace Hotplug.Tests.Native;

/// <summary>
/// native/test/shim_test.c against the libraries the build made (artifacts/native/libhotplug_shim.so and
/// artifacts/native/linux-arm64/libhotplug_shim.so, the two files the package carries): built with gcc and run
/// on this machine, and cross-built with aarch64-linux-gnu-gcc and run under qemu-aarch64, so the arm64
/// build of the handler takes real SIGBUS faults on an arm64 signal frame (the one qemu's linux-user mode
/// builds for the guest). Both tools are required, not optional: build.sh installs them
/// (gcc-aarch64-linux-gnu, qemu-user); a machine without them fails here with the reason.
/// </summary>
public sealed class ShimCTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private static string NativeDir => Path.Combine(RepoPaths.Root, "native");
    private static string ArtifactsNative => Path.Combine(RepoPaths.Root, "artifacts", "native");

    [Fact]
    public void Shim_C_test_passes_natively()
    {
        string lib = Path.Combine(ArtifactsNative, "libhotplug_shim.so");
        Assert.True(File.Exists(lib), $"{lib} was not built (building src/Hotplug builds it)");
        string exe = BuildTest("gcc", Path.GetDirectoryName(lib)!);
        AssertPassed(Run(exe));
    }

    [Fact]
    public void Shim_C_test_passes_on_arm64_under_qemu()
    {
        Assert.True(OnPath("aarch64-linux-gnu-gcc"),
            "aarch64-linux-gnu-gcc is not on PATH: install Debian's gcc-aarch64-linux-gnu (./build.sh does)");
        Assert.True(OnPath("qemu-aarch64"), "qemu-aarch64 is not on PATH: install Debian's qemu-user (./build.sh does)");
        Assert.True(Directory.Exists("/usr/aarch64-linux-gnu/lib"),
            "/usr/aarch64-linux-gnu/lib (the arm64 libc and loader, from libc6-arm64-cross) is missing");
        string lib = Path.Combine(ArtifactsNative, "linux-arm64", "libhotplug_shim.so");
        Assert.True(File.Exists(lib), $"{lib} was not built (building src/Hotplug builds it when aarch64-linux-gnu-gcc is on PATH)");
        Assert.Equal(183, ElfMachine(lib)); // EM_AARCH64

        string exe = BuildTest("aarch64-linux-gnu-gcc", Path.GetDirectoryName(lib)!);
        Assert.Equal(183, ElfMachine(exe));
        string stdout = Run("qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", exe);
        Assert.Contains(", aarch64", stdout, StringComparison.Ordinal);
        AssertPassed(stdout);
    }

    private static void AssertPassed(string stdout)
    {
        Assert.Contains("fault.cookie 0x1122334455667788", stdout, StringComparison.Ordinal);
        Assert.Contains("fault outside any range reached the previous handler", stdout, StringComparison.Ordinal);
        Assert.Contains("fault in a removed range reached the previous handler", stdout, StringComparison.Ordinal);
        Assert.Matches(@"shim_test: all \d+ checks passed", stdout);
    }

    /// <summary>Compiles native/test/shim_test.c with <paramref name="cc"/>, linked to the library in <paramref name="libDir"/>.</summary>
    private string BuildTest(string cc, string libDir)
    {
        string dir = Directory.CreateTempSubdirectory("hotplug-shim-test-").FullName;
        string exe = Path.Combine(dir, "shim_test");
        Run(cc, "-O1", "-g", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
            "-o", exe, Path.Combine(NativeDir, "test", "shim_test.c"),
            "-L" + libDir, "-lhotplug_shim", "-Wl,-rpath," + libDir);
        return exe;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(d => File.Exists(Path.Combine(d, tool)));

    private static int ElfMachine(string path)
    {
        using var f = File.OpenRead(path);
        var header = new byte[20];
        f.ReadExactly(header);
        Assert.True(header[0] == 0x7f && header[1] == 'E' && header[2] == 'L' && header[3] == 'F', $"{path} is not ELF");
        return BitConverter.ToUInt16(header, 18);
    }

    private string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        bool exited = p.WaitForExit(Timeout);
        if (!exited)
            p.Kill(entireProcessTree: true);
        p.WaitForExit();
        string text = $"$ {file} {string.Join(' ', args)}\nexit {(exited ? p.ExitCode.ToString() : "timeout")}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}";
        output.WriteLine(text);
        Assert.True(exited && p.ExitCode == 0, text);
        return stdout.ToString();
    }
}
