using System.Buffers.Binary;

namespace Hotplug.Pci;

/// <summary>
/// A device's PCI configuration space (DPDK's rte_pci_read_config / write_config), reached through the attachment
/// that holds it: the vfio config region, or the sysfs <c>config</c> file for uio and sysfs attachments. Values are
/// little-endian, as on the bus.
/// </summary>
public sealed class PciConfigSpace
{
    /// <summary>Offset of the 16-bit COMMAND register.</summary>
    public const int CommandOffset = 0x04;
    /// <summary>COMMAND bit: memory space enable.</summary>
    public const ushort CommandMemorySpace = 1 << 1;
    /// <summary>COMMAND bit: bus master enable (the device may DMA).</summary>
    public const ushort CommandBusMaster = 1 << 2;
    /// <summary>COMMAND bit: INTx disable.</summary>
    public const ushort CommandIntxDisable = 1 << 10;

    private readonly PciDevice _device;

    internal PciConfigSpace(PciDevice device) => _device = device;

    private PciAttachment Attachment => _device.Attachment
        ?? throw new InvalidOperationException($"{_device.Name} is not attached: config space is reached through its attachment (HotplugAdd it first).");

    /// <summary>Reads <paramref name="into"/>.Length bytes at <paramref name="offset"/>.</summary>
    /// <exception cref="InvalidOperationException">The device is not attached.</exception>
    /// <exception cref="IOException">The kernel refused the access (the device may be gone).</exception>
    public void Read(int offset, Span<byte> into)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        Attachment.ReadConfig(offset, into);
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>.</summary>
    /// <exception cref="InvalidOperationException">The device is not attached.</exception>
    /// <exception cref="IOException">The kernel refused the access (the device may be gone).</exception>
    public void Write(int offset, ReadOnlySpan<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        Attachment.WriteConfig(offset, data);
    }

    /// <summary>Reads 8 bits.</summary>
    public byte Read8(int offset) { Span<byte> b = stackalloc byte[1]; Read(offset, b); return b[0]; }
    /// <summary>Reads 16 bits.</summary>
    public ushort Read16(int offset) { Span<byte> b = stackalloc byte[2]; Read(offset, b); return BinaryPrimitives.ReadUInt16LittleEndian(b); }
    /// <summary>Reads 32 bits.</summary>
    public uint Read32(int offset) { Span<byte> b = stackalloc byte[4]; Read(offset, b); return BinaryPrimitives.ReadUInt32LittleEndian(b); }
    /// <summary>Writes 8 bits.</summary>
    public void Write8(int offset, byte value) => Write(offset, [value]);
    /// <summary>Writes 16 bits.</summary>
    public void Write16(int offset, ushort value) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, value); Write(offset, b); }
    /// <summary>Writes 32 bits.</summary>
    public void Write32(int offset, uint value) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, value); Write(offset, b); }

    /// <summary>Turns bus mastering on (vfio-pci and uio_pci_generic leave it off; a device cannot DMA without it).</summary>
    public void EnableBusMastering() => Write16(CommandOffset, (ushort)(Read16(CommandOffset) | CommandBusMaster));
}
