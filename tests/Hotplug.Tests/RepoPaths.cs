namespace Hotplug.Tests;

/// <summary>Paths of the source tree the tests run from.</summary>
internal static class RepoPaths
{
    /// <summary>The directory holding Hotplug.sln, found upwards from the test assembly.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hotplug.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("Hotplug.sln not found above " + AppContext.BaseDirectory);
    }
}
