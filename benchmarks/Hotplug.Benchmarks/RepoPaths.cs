namespace Hotplug.Benchmarks;

/// <summary>Where the benchmark work files go: $HOTPLUG_BENCH_WORK, else artifacts/bench of the repository this binary was built in.</summary>
public static class RepoPaths
{
    public static string WorkDir
    {
        get
        {
            if (Environment.GetEnvironmentVariable("HOTPLUG_BENCH_WORK") is { Length: > 0 } w)
                return w;
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "Hotplug.sln")))
                    return Path.Combine(d.FullName, "artifacts", "bench");
            }
            return Path.Combine(Path.GetTempPath(), "hotplug-bench");
        }
    }
}
