namespace Hotplug.Dma;

/// <summary>The free space of one chunk as (offset, length) holes, sorted and merged: first fit. Not thread safe (its allocator locks).</summary>
internal sealed class ChunkFreeList
{
    private readonly List<(ulong Offset, ulong Length)> _holes = [];

    /// <summary>All of <paramref name="length"/> bytes free.</summary>
    public ChunkFreeList(ulong length)
    {
        Capacity = length;
        _holes.Add((0, length));
    }

    /// <summary>The size of the chunk.</summary>
    public ulong Capacity { get; }

    /// <summary>True when nothing is allocated.</summary>
    public bool IsEmpty => _holes.Count == 1 && _holes[0].Length == Capacity;

    /// <summary>Takes the first hole that holds <paramref name="length"/> bytes at an offset that is a multiple of <paramref name="alignment"/> (a power of two).</summary>
    public bool TryAllocate(ulong length, ulong alignment, out ulong offset)
    {
        for (int i = 0; i < _holes.Count; i++)
        {
            var (start, size) = _holes[i];
            ulong aligned = (start + alignment - 1) & ~(alignment - 1);
            ulong pad = aligned - start;
            if (pad > size || size - pad < length)
                continue;
            _holes.RemoveAt(i);
            ulong tail = size - pad - length;
            if (tail > 0)
                _holes.Insert(i, (aligned + length, tail));
            if (pad > 0)
                _holes.Insert(i, (start, pad));
            offset = aligned;
            return true;
        }
        offset = 0;
        return false;
    }

    /// <summary>Gives back <paramref name="length"/> bytes at <paramref name="offset"/>.</summary>
    public void Free(ulong offset, ulong length)
    {
        int i = 0;
        while (i < _holes.Count && _holes[i].Offset < offset)
            i++;
        if (i > 0 && _holes[i - 1].Offset + _holes[i - 1].Length > offset || i < _holes.Count && offset + length > _holes[i].Offset)
            throw new InvalidOperationException($"DMA memory at chunk offset 0x{offset:x} (0x{length:x} bytes) is free already.");
        if (i > 0 && _holes[i - 1].Offset + _holes[i - 1].Length == offset)
        {
            offset = _holes[i - 1].Offset;
            length += _holes[i - 1].Length;
            _holes.RemoveAt(--i);
        }
        if (i < _holes.Count && offset + length == _holes[i].Offset)
        {
            length += _holes[i].Length;
            _holes.RemoveAt(i);
        }
        _holes.Insert(i, (offset, length));
    }
}
