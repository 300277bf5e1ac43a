namespace Hotplug.Pci;

/// <summary>One line of a device's sysfs <c>resource</c> file: a BAR window as the kernel reports it.</summary>
/// <param name="Index">The BAR number (0-5), or 6+ for the ROM and SR-IOV windows.</param>
/// <param name="Start">Physical start address.</param>
/// <param name="End">Physical end address (inclusive).</param>
/// <param name="Flags">The kernel's IORESOURCE_* flags.</param>
public readonly record struct BarInfo(int Index, ulong Start, ulong End, ulong Flags)
{
    private const ulong IoResourceIo = 0x100, IoResourceMem = 0x200, IoResourcePrefetch = 0x2000, IoResourceMem64 = 0x100000;

    /// <summary>Size in bytes; 0 for an unused BAR.</summary>
    public ulong Length => End == 0 && Start == 0 ? 0 : End - Start + 1;

    /// <summary>True for a memory BAR (mappable).</summary>
    public bool IsMemory => (Flags & IoResourceMem) != 0;

    /// <summary>True for an I/O port BAR.</summary>
    public bool IsIo => (Flags & IoResourceIo) != 0;

    /// <summary>True for a 64-bit memory BAR.</summary>
    public bool Is64Bit => (Flags & IoResourceMem64) != 0;

    /// <summary>True for a prefetchable memory BAR.</summary>
    public bool IsPrefetchable => (Flags & IoResourcePrefetch) != 0;

    /// <summary>True when the BAR is in use.</summary>
    public bool IsPresent => Length != 0;

    /// <inheritdoc />
    public override string ToString() =>
        $"BAR{Index} {(IsIo ? "io" : "mem")}{(Is64Bit ? "64" : "")}{(IsPrefetchable ? " pref" : "")} 0x{Start:x}+0x{Length:x}";
}
