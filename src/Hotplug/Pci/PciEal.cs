using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>The common case in one call: an <see cref="Eal"/> with a PCI bus registered.</summary>
public static class PciEal
{
    /// <summary>Creates an <see cref="Eal"/> and registers a <see cref="PciBus"/> with <paramref name="pci"/> on it.</summary>
    public static Eal Create(PciBusOptions? pci = null, EalOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        var eal = new Eal(options, loggerFactory);
        try
        {
            eal.Buses.AddPci(pci);
            return eal;
        }
        catch
        {
            eal.Dispose();
            throw;
        }
    }
}
