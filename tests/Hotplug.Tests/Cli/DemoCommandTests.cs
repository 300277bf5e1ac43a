using System.CommandLine;
using Hotplug.Cli;
using Spectre.Console;

namespace Hotplug.Tests.Cli;

/// <summary>The README's run command: the demo must succeed on a machine with no PCI hardware.</summary>
public class DemoCommandTests
{
    [Theory]
    [InlineData("AllOnes")]
    [InlineData("Zero")]
    public void The_demo_survives_the_surprise_removal_and_exits_0(string fill)
    {
        var saved = AnsiConsole.Console;
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(text), Ansi = AnsiSupport.No });
        console.Profile.Width = 200; // no wrapping inside the table's cells
        AnsiConsole.Console = console;
        int code;
        try
        {
            var root = new RootCommand("test") { DemoCommand.Create() };
            code = root.Parse(["demo", "--fill", fill]).Invoke();
        }
        finally
        {
            AnsiConsole.Console = saved;
        }
        // 0 only if the data path's SIGBUS was handled, REMOVE came from it, the data path read the dead
        // value after it, and detach + re-attach worked.
        Assert.True(code == 0, $"exit code {code}; the demo printed:\n{text}");
        Assert.Contains("SIGBUS on the data path", text.ToString());
        Assert.Contains("source Sigbus", text.ToString());
        Assert.Contains("survived the surprise removal", text.ToString());
    }
}
