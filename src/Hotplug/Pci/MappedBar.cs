using System.Runtime.CompilerServices;
using Hotplug.Interop;
using Tmds.Linux;

namespace Hotplug.Pci;

/// <summary>
/// One BAR mapped into this process. It owns the mapping and its registration with the SIGBUS shim: if the device
/// disappears, the shim replaces the whole mapping with dead memory (see <see cref="BarFill"/>) and accesses keep
/// working. Accessors are bounds checked and volatile; <see cref="Pointer"/> is there for hot paths that do their
/// own checks.
/// </summary>
/// <remarks>
/// No address the app was given is ever left unmapped while the app can still reach it: <see cref="Dispose"/>
/// replaces the mapping with dead memory (the device's memory is released, the address range is not) and later
/// accesses through this object throw <see cref="ObjectDisposedException"/>; a thread that passed the check just
/// before reads the dead value. The address range itself is returned to the system only once this object is
/// unreachable and every fault record that may name it has been read. Keep the <see cref="MappedBar"/> reachable
/// while you use <see cref="Pointer"/> or <see cref="AsSpan"/>.
/// </remarks>
public sealed unsafe class MappedBar : IDisposable
{
    private readonly nint _address;
    private ulong _limit; // Length while mapped, 0 once disposed: one compare checks bounds and disposal
    private readonly int _slot;
    private int _disposed;
    private ulong _retiredAt;
    private readonly Lock _slotLock = new(); // the shim slot is used only while it is ours: remap and dispose never interleave

    internal MappedBar(int index, nint address, ulong length, int shimSlot, ulong cookie, BarMappingKind kind, BarFill fill)
    {
        Index = index;
        _address = address;
        Length = length >= 8 ? length : throw new ArgumentOutOfRangeException(nameof(length), "A BAR mapping is at least 8 bytes.");
        _limit = length;
        _slot = shimSlot;
        Cookie = cookie;
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

    /// <summary>Start of the mapping in this process; after <see cref="Dispose"/> it points to dead memory for as long as this object is reachable.</summary>
    public nint Pointer => _address;

    /// <summary>True once the BAR has been replaced by dead memory (the device is gone, or the mapping was disposed).</summary>
    public bool IsRemapped => Volatile.Read(ref _disposed) != 0 || NativeShim.hp_range_is_remapped(_slot) == 1;

    /// <summary>True once <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The fault cookie this mapping was registered with.</summary>
    internal ulong Cookie { get; }

    /// <summary>True if <paramref name="address"/> falls inside this mapping.</summary>
    public bool Contains(nint address) => (ulong)(address - _address) < Length;

    /// <summary>The mapping as a span. Valid while this object is reachable; it reads dead memory after <see cref="Dispose"/>.</summary>
    /// <exception cref="ObjectDisposedException">Disposed already.</exception>
    public Span<byte> AsSpan()
    {
        if (Volatile.Read(ref _limit) == 0)
            Throw(0, 0);
        return new((void*)_address, checked((int)Length));
    }

    /// <summary>Reads 8 bits at <paramref name="offset"/>.</summary>
    public byte Read8(ulong offset) { byte v = Volatile.Read(ref *(byte*)Checked(offset, 1)); GC.KeepAlive(this); return v; }
    /// <summary>Reads 16 bits at <paramref name="offset"/>.</summary>
    public ushort Read16(ulong offset) { ushort v = Volatile.Read(ref *(ushort*)Checked(offset, 2)); GC.KeepAlive(this); return v; }
    /// <summary>Reads 32 bits at <paramref name="offset"/>.</summary>
    public uint Read32(ulong offset) { uint v = Volatile.Read(ref *(uint*)Checked(offset, 4)); GC.KeepAlive(this); return v; }
    /// <summary>Reads 64 bits at <paramref name="offset"/>.</summary>
    public ulong Read64(ulong offset) { ulong v = Volatile.Read(ref *(ulong*)Checked(offset, 8)); GC.KeepAlive(this); return v; }
    /// <summary>Writes 8 bits at <paramref name="offset"/>.</summary>
    public void Write8(ulong offset, byte value) { Volatile.Write(ref *(byte*)Checked(offset, 1), value); GC.KeepAlive(this); }
    /// <summary>Writes 16 bits at <paramref name="offset"/>.</summary>
    public void Write16(ulong offset, ushort value) { Volatile.Write(ref *(ushort*)Checked(offset, 2), value); GC.KeepAlive(this); }
    /// <summary>Writes 32 bits at <paramref name="offset"/>.</summary>
    public void Write32(ulong offset, uint value) { Volatile.Write(ref *(uint*)Checked(offset, 4), value); GC.KeepAlive(this); }
    /// <summary>Writes 64 bits at <paramref name="offset"/>.</summary>
    public void Write64(ulong offset, ulong value) { Volatile.Write(ref *(ulong*)Checked(offset, 8), value); GC.KeepAlive(this); }

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
            throw new ObjectDisposedException(nameof(MappedBar), $"BAR{Index} is unmapped (its device was detached).");
        throw new ArgumentOutOfRangeException(nameof(offset), $"Access of {size} bytes at 0x{offset:x} is outside BAR{Index} (0x{Length:x} bytes).");
    }

    /// <summary>Replaces the mapping with dead memory now. True if this call did it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    internal bool Remap()
    {
        lock (_slotLock)
        {
            if (_disposed != 0)
                return false;
            return Sys.CheckNegated(NativeShim.hp_range_remap(_slot), $"remapping BAR{Index}") == 1;
        }
    }

    /// <summary>
    /// Releases the device's memory: the mapping becomes dead memory (no hole is left under a reader that is still
    /// running), later accesses throw <see cref="ObjectDisposedException"/>, and the range leaves the shim. The data
    /// path should be stopped first; if it is not, it reads dead values. Idempotent.
    /// </summary>
    public void Dispose()
    {
        lock (_slotLock)
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            Volatile.Write(ref _limit, 0UL);
            NativeShim.hp_range_remap(_slot); // dead memory first: the device's pages (a vfio mmap) are released here
            NativeShim.hp_range_remove(_slot);
            _retiredAt = NativeShim.hp_fault_produced();
        }
    }

    /// <summary>Returns the (dead) address range to the system once nothing can name it any more.</summary>
    ~MappedBar()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            NativeShim.hp_range_remove(_slot); // never disposed: nobody can reach it, so unregister and unmap
        }
        else if (NativeShim.hp_fault_consumed() < _retiredAt && HandlerInstalled())
        {
            GC.ReRegisterForFinalize(this); // fault records that may name this range are still unread
            return;
        }
        NativeShim.hp_retired_forget(_address); // a late fault there would no longer find dead memory
        LibC.munmap((void*)_address, (size_t)(nuint)Length);
    }

    private static bool HandlerInstalled()
    {
        NativeShim.hp_stats_get(out var stats);
        return stats.installed != 0;
    }
}
