using System.Collections.Concurrent;
using Hotplug.Pci;

namespace Hotplug.E1000;

/// <summary>
/// The PCI driver for the Intel 82540EM (8086:100E; QEMU's <c>e1000</c>). It takes the device; the app then makes an
/// <see cref="E1000Port"/> with <see cref="E1000Port.Attach"/>. When vfio-pci asks for the device back while it still
/// answers, <see cref="Quiesce"/> stops receive and transmit and clears bus mastering; <see cref="Remove"/> marks the
/// port removed, so its bursts return 0.
/// </summary>
public class E1000Driver : PciDriver
{
    /// <summary>Intel's PCI vendor id.</summary>
    public const ushort IntelVendorId = 0x8086;

    /// <summary>The 82540EM's device id (what QEMU's <c>e1000</c> reports).</summary>
    public const ushort I82540EmDeviceId = 0x100E;

    private static readonly PciId[] E1000Ids = [new(IntelVendorId, I82540EmDeviceId)];
    private readonly ConcurrentDictionary<PciDevice, E1000Port> _ports = new();

    /// <inheritdoc />
    public override IReadOnlyList<PciId> Ids => E1000Ids;

    /// <inheritdoc />
    public override string Name => "e1000";

    /// <summary>The 82540EM addresses 64 bits.</summary>
    public override ulong DmaMask => ulong.MaxValue;

    /// <summary>The port attached to <paramref name="device"/>, if any.</summary>
    public E1000Port? PortOf(PciDevice device) => _ports.TryGetValue(device, out var p) ? p : null;

    /// <summary>Takes the device unless its STATUS register reads all-ones (already gone).</summary>
    public override bool Probe(PciDevice device) => device.Bar(0).Read32(E1000Registers.Status) != E1000Registers.AllOnes;

    /// <summary>Stops receive and transmit and clears bus mastering while the NIC still answers (no DMA after this).</summary>
    public override void Quiesce(PciDevice device)
    {
        if (_ports.TryGetValue(device, out var p))
            p.Stop();
        try
        {
            ushort command = device.Config.Read16(PciConfigSpace.CommandOffset);
            if (command != 0xFFFF)
                device.Config.Write16(PciConfigSpace.CommandOffset, (ushort)(command & ~PciConfigSpace.CommandBusMaster));
        }
        catch (Exception e) when (e is IOException or HotplugException or ObjectDisposedException)
        {
            // config space gone with the device: it does no DMA either
        }
    }

    /// <summary>Marks the port removed: its bursts return 0 from now on.</summary>
    public override void Remove(PciDevice device)
    {
        if (_ports.TryRemove(device, out var p))
            p.OnRemoved();
    }

    internal void Register(PciDevice device, E1000Port port) => _ports[device] = port;

    internal void Unregister(PciDevice device, E1000Port port) => _ports.TryRemove(new KeyValuePair<PciDevice, E1000Port>(device, port));
}
