using System.Runtime.CompilerServices;
using Hotplug.Linux;
using Tmds.Linux;

namespace Hotplug.Pci;

/// <summary>
/// One BAR mapped into this process. It owns the mapping (unmapped on <see cref="Dispose"/>) and its
/// registration with the SIGBUS shim: if the device disappears, the shim replaces the whole mapping with
/// dead memory (see <see cref="BarFill"/>) and accesses keep working. Accessors are bounds checked and
/// volatile; <see cref="Pointer"/> is there for hot paths that do their own checks.
/// </summary>
public sealed unsafe class MappedBar : IDisposable
{
    private nint _address;
    private ulong _limit; // Length while mapped, 0 once unmapped: one compare checks bounds and disposal
    private readonly int _slot;

    internal MappedBar(int index, nint address, ulong length, int shimSlot, BarMappingKind kind, BarFill fill)
    {
        Index = index;
        _address = address;
        Length = length >= 8 ? length : throw new ArgumentOutOfRangeException(nameof(length), "A BAR mapping is at least 8 bytes.");
        _limit = length;
        _slot = shimSlot;
        Kind = kind;
        Fill = fill;
    }

    /// <summary>The BAR number.</summary>
    public int Index { get; }

    /// <summary>Mapped length in bytes.</summary>
    public ulong Length { get; }

    /// <summary>How it was mapped.</summary>
    public BarMappingKind Kind { get; }

    /// <summary>What it reads as once remapped.</summary>
    public BarFill Fill { get; }

    /// <summary>Start of the mapping in this process (zero after dispose).</summary>
    public nint Pointer => _address;

    /// <summary>True once the BAR has been replaced by dead memory (the device is gone).</summary>
    public bool IsRemapped => _address != 0 && NativeShim.RangeIsRemapped(_slot) == 1;

    /// <summary>True if <paramref name="address"/> falls inside this mapping.</summary>
    public bool Contains(nint address) => _address != 0 && (ulong)(address - _address) < Length;

    /// <summary>The mapping as a span. Valid only until <see cref="Dispose"/>.</summary>
    public Span<byte> AsSpan()
    {
        nint a = _address;
        if (a == 0)
            Throw(0, 0); // unmapped: ObjectDisposedException
        return new((void*)a, checked((int)Length));
    }

    /// <summary>Reads 8 bits at <paramref name="offset"/>.</summary>
    public byte Read8(ulong offset) => Volatile.Read(ref *(byte*)Checked(offset, 1));
    /// <summary>Reads 16 bits at <paramref name="offset"/>.</summary>
    public ushort Read16(ulong offset) => Volatile.Read(ref *(ushort*)Checked(offset, 2));
    /// <summary>Reads 32 bits at <paramref name="offset"/>.</summary>
    public uint Read32(ulong offset) => Volatile.Read(ref *(uint*)Checked(offset, 4));
    /// <summary>Reads 64 bits at <paramref name="offset"/>.</summary>
    public ulong Read64(ulong offset) => Volatile.Read(ref *(ulong*)Checked(offset, 8));
    /// <summary>Writes 8 bits at <paramref name="offset"/>.</summary>
    public void Write8(ulong offset, byte value) => Volatile.Write(ref *(byte*)Checked(offset, 1), value);
    /// <summary>Writes 16 bits at <paramref name="offset"/>.</summary>
    public void Write16(ulong offset, ushort value) => Volatile.Write(ref *(ushort*)Checked(offset, 2), value);
    /// <summary>Writes 32 bits at <paramref name="offset"/>.</summary>
    public void Write32(ulong offset, uint value) => Volatile.Write(ref *(uint*)Checked(offset, 4), value);
    /// <summary>Writes 64 bits at <paramref name="offset"/>.</summary>
    public void Write64(ulong offset, ulong value) => Volatile.Write(ref *(ulong*)Checked(offset, 8), value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private nint Checked(ulong offset, uint size)
    {
        // offset + size wraps only for offsets near 2^64, which Max then keeps: one branch for all cases.
        if (Math.Max(offset, offset + size) > _limit)
            Throw(offset, size);
        return _address + (nint)offset;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Throw(ulong offset, uint size)
    {
        if (Volatile.Read(ref _limit) == 0)
            throw new ObjectDisposedException(nameof(MappedBar), $"BAR{Index} is unmapped.");
        throw new ArgumentOutOfRangeException(nameof(offset), $"Access of {size} bytes at 0x{offset:x} is outside BAR{Index} (0x{Length:x} bytes).");
    }

    /// <summary>Replaces the mapping with dead memory now. True if this call did it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    internal bool Remap()
    {
        if (_address == 0)
            return false;
        int rc = NativeShim.RangeRemap(_slot);
        return rc < 0 ? throw Errno.Exception($"remapping BAR{Index}", -rc) : rc == 1;
    }

    /// <summary>Unregisters the range from the shim and unmaps it. The data path must be stopped first.</summary>
    public void Dispose()
    {
        Volatile.Write(ref _limit, 0UL);
        nint a = Interlocked.Exchange(ref _address, 0);
        if (a == 0)
            return;
        NativeShim.RangeRemove(_slot);
        LibC.munmap((void*)a, (size_t)(nuint)Length);
    }
}
