using System.CommandLine;
using Hotplug.Cli;

var root = new RootCommand("hotplug: list PCI devices, show and change their drivers, watch device events, and run the surprise-removal demo.")
{
    ListCommand.Create(),
    StatusCommand.Create(),
    BindCommand.CreateBind(),
    BindCommand.CreateUnbind(),
    MonitorCommand.Create(),
    NvmeCommand.Create(),
    DemoCommand.Create(),
};
return root.Parse(args).Invoke();
