using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>What every attachment of one PCI bus shares: the options, the core's services, the vfio container.</summary>
internal sealed class PciAttachContext(PciBusOptions options, BusHost host, VfioContainer vfio, ILogger logger)
{
    public PciBusOptions Options { get; } = options;
    public BusHost Host { get; } = host;
    public VfioContainer Vfio { get; } = vfio;
    public ILogger Logger { get; } = logger;
}
