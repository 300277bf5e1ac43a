namespace Hotplug.Pci;

/// <summary>
/// The PCI devices the bus knows, by address. Changed only under the core's lock; its own small lock lets app
/// threads take a snapshot or look a device up while the event thread changes it.
/// </summary>
internal sealed class PciDeviceTable
{
    private readonly SortedDictionary<PciAddress, PciDevice> _devices = [];
    private readonly Lock _sync = new();

    public PciDevice? Find(PciAddress address)
    {
        lock (_sync)
            return _devices.GetValueOrDefault(address);
    }

    public void Set(PciDevice device)
    {
        lock (_sync)
            _devices[device.Address] = device;
    }

    public void Remove(PciAddress address)
    {
        lock (_sync)
            _devices.Remove(address);
    }

    public PciDevice[] Snapshot()
    {
        lock (_sync)
            return [.. _devices.Values];
    }
}
