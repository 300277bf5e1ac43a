using System.CommandLine;

namespace Hotplug.Cli;

/// <summary><c>hotplug monitor</c>: device events live.</summary>
internal static class MonitorCommand
{
    public static Command Create()
    {
        var cmd = new Command("monitor", "Print device events live.");
        cmd.SetAction(_ => 0);
        return cmd;
    }
}
