using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;
using Hotplug.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Pci;

/// <summary>What the PCI bus tests share: a simulated tree, EALs on it (disposed after the test), logging to the test output.</summary>
public abstract class PciBusTestBase : IDisposable
{
    protected const string A = "0000:01:00.0", B = "0000:02:00.0", C = "0000:03:00.0";

    protected readonly SimulatedPciBus _sim = SimulatedPciBus.Create();
    private readonly ILoggerFactory _loggers;
    private readonly List<Eal> _eals = [];

    protected PciBusTestBase(ITestOutputHelper output)
    {
        _loggers = XunitLoggerFactory.Create(output);
    }

    public void Dispose()
    {
        foreach (var eal in _eals)
            eal.Dispose();
        _sim.Dispose();
        _loggers.Dispose();
        GC.SuppressFinalize(this);
    }

    protected Eal NewEal(PciBusOptions? options = null)
    {
        var eal = PciEal.Create(options ?? _sim.CreateOptions(), null, _loggers);
        _eals.Add(eal);
        return eal;
    }

    protected PciBusOptions ListOptions(string[]? allow = null, string[]? block = null) =>
        new() { SysfsRoot = _sim.SysfsRoot, DevRoot = _sim.DevRoot, AllowList = allow ?? [], BlockList = block ?? [] };

    protected string DeviceDir(string address) => Path.Combine(_sim.SysfsRoot, address);

    protected static PciDevice Dev(Eal eal, string address) => eal.Pci().Find(PciAddress.Parse(address)) ?? throw new Xunit.Sdk.XunitException($"{address} is not known");
}
