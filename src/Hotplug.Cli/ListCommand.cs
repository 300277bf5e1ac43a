using System.CommandLine;

namespace Hotplug.Cli;

/// <summary><c>hotplug list</c>: the PCI devices as a table.</summary>
internal static class ListCommand
{
    public static Command Create()
    {
        var cmd = new Command("list", "List PCI devices (read-only).");
        cmd.SetAction(_ => 0);
        return cmd;
    }
}
