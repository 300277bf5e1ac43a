namespace Hotplug.Pci;

/// <summary>Registers the PCI bus from its own side: the core never constructs it.</summary>
public static class PciRegistration
{
    /// <summary>Creates a <see cref="PciBus"/> with <paramref name="options"/> and registers it.</summary>
    /// <exception cref="InvalidOperationException">A bus named <c>pci</c> is registered already.</exception>
    public static PciBus AddPci(this BusRegistry buses, PciBusOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(buses);
        return buses.Register(new PciBus(options));
    }

    /// <summary>The PCI bus registered on <paramref name="eal"/>.</summary>
    /// <exception cref="BusNotFoundException">No PCI bus is registered (call <see cref="AddPci"/>).</exception>
    public static PciBus Pci(this Eal eal)
    {
        ArgumentNullException.ThrowIfNull(eal);
        return eal.Buses.Pci();
    }

    /// <summary>The registered PCI bus.</summary>
    /// <exception cref="BusNotFoundException">No PCI bus is registered (call <see cref="AddPci"/>).</exception>
    public static PciBus Pci(this BusRegistry buses)
    {
        ArgumentNullException.ThrowIfNull(buses);
        return buses.Find<PciBus>() ?? throw new BusNotFoundException("pci");
    }
}
