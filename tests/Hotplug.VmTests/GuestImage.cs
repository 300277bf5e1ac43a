using System.Diagnostics;

namespace Hotplug.VmTests;

/// <summary>The guest's kernel and initramfs, as built by <c>guest/build-image.sh</c>.</summary>
public sealed record GuestImage(string Kernel, string Initrd, string KernelVersion, string Hash, string BuildLog, TimeSpan BuildTime)
{
    /// <summary>The repository root (the directory that holds <c>tests/Hotplug.VmTests/guest/build-image.sh</c>).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Script => Path.Combine(RepoRoot, "tests", "Hotplug.VmTests", "guest", "build-image.sh");

    /// <summary>The ignored cache folder for the image and the runs' logs.</summary>
    public static string CacheDir =>
        Environment.GetEnvironmentVariable("HP_VM_CACHE") is { Length: > 0 } c ? c : Path.Combine(RepoRoot, ".vm-cache");

    /// <summary>Runs build-image.sh (a no-op when nothing changed) and returns the image. Throws on any failure.</summary>
    public static GuestImage Build(string? agentDir, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Script);
        if (agentDir != null)
        {
            psi.ArgumentList.Add("--agent");
            psi.ArgumentList.Add(agentDir);
        }
        psi.ArgumentList.Add("--cache");
        psi.ArgumentList.Add(CacheDir);

        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new GuestException("cannot start bash for build-image.sh");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new GuestException($"build-image.sh did not finish within {timeout}:\n{stderr.Result}");
        }
        p.WaitForExit();
        string log = stderr.Result + stdout.Result;
        if (p.ExitCode != 0)
            throw new GuestException($"build-image.sh failed with exit code {p.ExitCode}. A prerequisite of the Vm tier is missing or broken:\n{log}");

        var kv = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).Where(a => a.Length == 2)
            .ToDictionary(a => a[0].Trim(), a => a[1].Trim());
        string Get(string key) => kv.TryGetValue(key, out var v) && v.Length > 0
            ? v : throw new GuestException($"build-image.sh printed no {key}:\n{log}");
        var image = new GuestImage(Get("KERNEL"), Get("INITRD"), Get("KERNEL_VERSION"), Get("HASH"), log, sw.Elapsed);
        foreach (var f in new[] { image.Kernel, image.Initrd })
            if (!File.Exists(f)) throw new GuestException($"build-image.sh reported {f}, which does not exist:\n{log}");
        return image;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "tests", "Hotplug.VmTests", "guest", "build-image.sh")))
                return dir.FullName;
        throw new GuestException($"cannot find the repository root above {AppContext.BaseDirectory}");
    }
}
