using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Hotplug.Tests.Stress;

/// <summary>
/// Detaching devices while data-path threads still call <c>MappedBar.Read32</c> on their BARs: a read racing
/// the detach must return the register or the dead value, or throw ObjectDisposedException; nothing else, and
/// never take the process down. Each try is a child process (Hotplug.CrashProbe detach-under-readers): four
/// simulated devices, sixteen readers, then Eal.Dispose or HotplugRemove of every device under them.
/// </summary>
[Trait("Category", "Stress")]
public partial class DetachUnderReadersTests(ITestOutputHelper output)
{
    private const int Tries = 16;

    [Fact]
    public void Disposing_the_eal_under_running_readers_never_kills_the_process_and_reads_only_see_the_device_or_ObjectDisposedException() =>
        Run("dispose");

    [Fact]
    public void Hotplug_remove_under_running_readers_never_kills_the_process_and_reads_only_see_the_device_or_ObjectDisposedException() =>
        Run("remove");

    private void Run(string how)
    {
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        for (int n = 1; n <= Tries; n++)
        {
            var r = RunProbe(how);
            var m = Summary().Match(r.Stdout);
            string thrown = string.Join(", ", ReaderException().Matches(r.Stdout).Select(x => x.Groups[1].Value));
            if (r.ExitCode != 0)
            {
                failures.Add($"try {n}: the process died (exit code {r.ExitCode}{(Fatal().Match(r.Stderr) is { Success: true } f ? ", " + f.Groups[1].Value : "")})" +
                    (thrown != "" ? $", readers had thrown {thrown}" : ""));
            }
            else if (!m.Success)
                failures.Add($"try {n}: no summary from the probe: {r.Stdout}{r.Stderr}");
            else if (m.Groups["exceptions"].Value != "" || m.Groups["wrong"].Value != "0")
                failures.Add($"try {n}: readers threw [{m.Groups["exceptions"].Value}] and read {m.Groups["wrong"].Value} wrong values");
        }
        clock.Stop();

        output.WriteLine($"{Tries} tries ({how}) in {clock.Elapsed.TotalSeconds:F1} s, {failures.Count} failed");
        Assert.True(failures.Count == 0, $"{failures.Count} of {Tries} tries failed:\n{string.Join('\n', failures)}");
    }

    private (int ExitCode, string Stdout, string Stderr) RunProbe(string how)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "Hotplug.CrashProbe.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing");
        // The fake sysfs tree on tmpfs when there is one; deleted here, since a child that dies leaves it behind.
        string root = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"hotplug-probe-{Guid.NewGuid():N}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { dll, "detach-under-readers", how, "--root", root })
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        psi.Environment["DOTNET_EnableCrashReport"] = "0";
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(30_000))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail("the probe hung (a reader or the detach never finished)");
            }
            return (p.ExitCode, stdout.Result.Trim(), stderr.Result.Trim());
        }
        finally
        {
            if (Directory.Exists(root))
                Directory.Delete(root, recursive: true);
        }
    }

    [GeneratedRegex(@"reads=\d+ live=\d+ dead=\d+ disposed=\d+ wrong=(?<wrong>\d+) exceptions=\[(?<exceptions>[^\]]*)\]")]
    private static partial Regex Summary();

    [GeneratedRegex(@"^reader \d+: (\w+)$", RegexOptions.Multiline)]
    private static partial Regex ReaderException();

    [GeneratedRegex(@"(System\.\w+Exception)")]
    private static partial Regex Fatal();
}
