using System.Runtime.CompilerServices;

namespace Hotplug.E1000;

/// <summary>
/// A handle to one packet buffer of a <see cref="PacketPool"/> (DPDK's <c>rte_mbuf</c>, reduced to a pool and an
/// index): copying it copies the handle, not the bytes. The frame's length lives in the pool, so a copy sees a
/// change made through another. Whoever holds it gives it back with <see cref="Free"/> — or hands it to
/// <see cref="E1000Port.TransmitBurst"/>, which frees it once sent.
/// </summary>
public readonly struct Packet : IEquatable<Packet>
{
    private readonly PacketPool? _pool;
    private readonly int _index;

    internal Packet(PacketPool pool, int index)
    {
        _pool = pool;
        _index = index;
    }

    /// <summary>True for <c>default(Packet)</c>: no buffer.</summary>
    public bool IsNull => _pool is null;

    /// <summary>The pool the buffer belongs to.</summary>
    /// <exception cref="InvalidOperationException">A null handle.</exception>
    public PacketPool Pool => _pool ?? throw NullHandle();

    /// <summary>The buffer's number in its pool.</summary>
    public int Index => _index;

    /// <summary>Bytes of frame in the buffer (set it before transmitting).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 0 or above <see cref="Capacity"/>.</exception>
    public int Length
    {
        get => Pool.LengthOf(_index);
        set => Pool.SetLength(_index, value);
    }

    /// <summary>The buffer's size in bytes.</summary>
    public int Capacity => Pool.BufferSize;

    /// <summary>The frame: the first <see cref="Length"/> bytes of the buffer.</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Span<byte> Data
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Pool.BufferOf(_index)[..Pool.LengthOf(_index)];
    }

    /// <summary>The whole buffer (<see cref="Capacity"/> bytes): write a frame here, then set <see cref="Length"/>.</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Span<byte> Buffer => Pool.BufferOf(_index);

    /// <summary>The buffer's device address.</summary>
    public ulong Iova => Pool.IovaOf(_index);

    /// <summary>Gives the buffer back to its pool.</summary>
    /// <exception cref="InvalidOperationException">A null handle, or the buffer is free already.</exception>
    public void Free() => Pool.Free(this);

    /// <inheritdoc />
    public bool Equals(Packet other) => ReferenceEquals(_pool, other._pool) && _index == other._index;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Packet p && Equals(p);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_pool, _index);

    /// <summary>Same pool and index.</summary>
    public static bool operator ==(Packet left, Packet right) => left.Equals(right);

    /// <summary>Another pool or index.</summary>
    public static bool operator !=(Packet left, Packet right) => !left.Equals(right);

    /// <inheritdoc />
    public override string ToString() => _pool is null ? "Packet(null)" : $"Packet({_index}, {Length} bytes)";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static InvalidOperationException NullHandle() => new("A null Packet has no buffer.");
}
