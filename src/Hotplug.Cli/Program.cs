using System.CommandLine;
using Hotplug.Cli;

var root = new RootCommand("hotplug: list PCI devices, watch device events, and run the surprise-removal demo.")
{
    ListCommand.Create(),
    MonitorCommand.Create(),
    DemoCommand.Create(),
};
return root.Parse(args).Invoke();
