using System.CommandLine;
using Hotplug.Nvme;
using Hotplug.Pci;
using Microsoft.Extensions.Logging;

namespace Hotplug.Cli;

/// <summary>
/// <c>hotplug nvme DEVICE</c>: the user-space NVMe driver (Hotplug.Nvme) on a controller bound to vfio-pci (or a
/// uio driver): IDENTIFY, then a verified I/O loop that prints what happens when the controller goes and comes back
/// (<see cref="NvmeSession"/>).
/// </summary>
internal static class NvmeCommand
{
    public static Command Create()
    {
        var device = new Argument<string>("device") { Description = "The controller's PCI address (0000:02:00.0 or 02:00.0), bound to vfio-pci, uio_pci_generic or igb_uio." };
        var write = new Option<bool>("--write") { Description = "Write a stamped pattern and read it back verified. DESTROYS the data in the range used (--chunks x 4 KiB from LBA 0)." };
        var chunks = new Option<int>("--chunks") { Description = "How many 4 KiB chunks from LBA 0 the loop uses.", DefaultValueFactory = _ => 256 };
        var cycles = new Option<int>("--cycles") { Description = "Exit after this many removals and re-attaches (0: run until Ctrl+C).", DefaultValueFactory = _ => 0 };
        var seconds = new Option<double?>("--seconds") { Description = "Exit after this many seconds of I/O." };
        var bindOnAdd = new Option<string?>("--bind-on-add") { Description = "Bind the controller to this driver (vfio-pci) by itself when it comes back." };
        var verbose = new Option<bool>("--verbose") { Description = "Log the library's messages." };
        var sysfs = StatusCommand.SysfsOption("");
        var cmd = new Command("nvme", "Identify an NVMe controller and run verified I/O on it through removal and return (user-space driver; needs root).")
        {
            device, write, chunks, cycles, seconds, bindOnAdd, verbose, sysfs,
        };
        cmd.SetAction((r, ct) => Task.FromResult(Run(r.GetValue(device)!, new NvmeSessionOptions
        {
            Write = r.GetValue(write),
            Chunks = r.GetValue(chunks),
            Cycles = r.GetValue(cycles),
            Duration = r.GetValue(seconds) is { } s ? TimeSpan.FromSeconds(s) : null,
        }, r.GetValue(bindOnAdd), r.GetValue(sysfs), r.GetValue(verbose), r.InvocationConfiguration.Output, r.InvocationConfiguration.Error, ct)));
        return cmd;
    }

    /// <summary>Runs the session on the real PCI bus (or the tree under <paramref name="sysfs"/>); the exit code.</summary>
    public static int Run(string device, NvmeSessionOptions options, string? bindOnAdd, string? sysfs, bool verbose, TextWriter output, TextWriter error, CancellationToken ct)
    {
        if (options.Chunks < 1 || options.Cycles < 0)
        {
            error.WriteLine("error: --chunks must be at least 1 and --cycles at least 0");
            return 2;
        }
        var root = StatusCommand.RootOf(sysfs);
        if (!PciAddress.TryParse(device, out var address))
        {
            error.WriteLine($"error: '{device}' is not a PCI address (0000:02:00.0 or 02:00.0)");
            return 2;
        }
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Warning));
        try
        {
            using var eal = PciEal.Create(new PciBusOptions
            {
                SysfsRoot = root,
                AllowList = [address.ToString()],
                BindOnAdd = bindOnAdd,
                AutoProbeOnAdd = bindOnAdd != null,
            }, null, loggers);
            var pci = eal.Pci();
            pci.RegisterDriver(new NvmeDriver());
            eal.EnableHotplugHandling();
            eal.StartDeviceEventMonitor();
            eal.Scan();
            return new NvmeSession(eal, address.ToString(), options, output, d => pci.DmaFor(d)).Run(ct);
        }
        catch (Exception e) when (e is HotplugException or NvmeException or IOException or UnauthorizedAccessException or Hotplug.Dma.DmaException)
        {
            error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
