using System.CommandLine;
using Hotplug.Cli;

namespace Hotplug.Tests.Cli;

/// <summary>The README's run command: the demo must succeed on a machine with no PCI hardware.</summary>
public class DemoCommandTests
{
    [Theory]
    [InlineData("AllOnes")]
    [InlineData("Zero")]
    public void The_demo_survives_the_surprise_removal_and_exits_0(string fill)
    {
        var root = new RootCommand("test") { DemoCommand.Create() };
        int code = root.Parse(["demo", "--fill", fill]).Invoke();
        Assert.Equal(0, code); // 0 only if REMOVE came, the data path stopped on the dead value, and detach + re-attach worked
    }
}
