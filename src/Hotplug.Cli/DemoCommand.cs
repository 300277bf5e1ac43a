using System.CommandLine;

namespace Hotplug.Cli;

/// <summary><c>hotplug demo</c>: the surprise-removal demo.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var cmd = new Command("demo", "Pull a simulated device out from under a running data path.");
        cmd.SetAction(_ => 0);
        return cmd;
    }
}
