namespace Hotplug.Pci;

/// <summary>A sysfs file held something Hotplug cannot parse, or could not be read.</summary>
public sealed class SysfsFormatException(string path, string detail, Exception? inner = null)
    : IOException($"{path}: {detail}", inner)
{
    /// <summary>The file that was wrong.</summary>
    public string Path { get; } = path;
}
