namespace Hotplug.Pci;

/// <summary>
/// One sysfs device directory, listed once: reading an absent optional attribute is a set lookup, not a
/// failed open (a scan of thousands of functions would otherwise pay a syscall or an exception for each).
/// </summary>
internal sealed class SysfsDirectory
{
    private readonly HashSet<string> _entries;

    private SysfsDirectory(string path, HashSet<string> entries)
    {
        Path = path;
        _entries = entries;
    }

    public string Path { get; }

    /// <exception cref="DirectoryNotFoundException">The directory is not there (a removal in progress).</exception>
    public static SysfsDirectory Open(string path)
    {
        var entries = new HashSet<string>(StringComparer.Ordinal);
        foreach (string e in Directory.EnumerateFileSystemEntries(path))
            entries.Add(System.IO.Path.GetFileName(e));
        return new SysfsDirectory(path, entries);
    }

    public bool Has(string name) => _entries.Contains(name);

    public string PathOf(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The trimmed content of an attribute, or null when the directory has no such entry.</summary>
    public string? ReadText(string name)
    {
        if (!Has(name))
            return null;
        string path = PathOf(name);
        try
        {
            using var handle = File.OpenHandle(path);
            Span<byte> buffer = stackalloc byte[4096]; // a sysfs attribute is at most one page
            int n = RandomAccess.Read(handle, buffer, 0);
            return System.Text.Encoding.UTF8.GetString(buffer[..n]).Trim();
        }
        catch (FileNotFoundException)
        {
            return null; // removed since the listing
        }
        catch (DirectoryNotFoundException) when (!Directory.Exists(Path))
        {
            throw; // the whole device went
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SysfsFormatException(path, "cannot be read: " + e.Message, e);
        }
    }

    /// <summary>The last component of a symlink's target (<c>driver</c> → <c>vfio-pci</c>), or null.</summary>
    public string? LinkName(string name) =>
        Has(name) && new FileInfo(PathOf(name)).LinkTarget is { } target ? System.IO.Path.GetFileName(target.TrimEnd('/')) : null;
}
