using System.Numerics;

namespace Hotplug.Dma;

/// <summary>
/// Hands out device addresses (IOVAs) from the ranges an IOMMU accepts (<c>VFIO_IOMMU_GET_INFO</c>'s usable ranges):
/// first fit, bottom up. Address 0 is never handed out (the first page is skipped), nor anything outside the usable
/// ranges (the MSI window is a hole between them). Pure logic, thread safe.
/// </summary>
internal sealed class IovaAllocator
{
    /// <summary>The page that is never handed out, so that no device address is 0.</summary>
    public const ulong ZeroPageBytes = 4096;

    private readonly List<IovaRange> _free = []; // sorted, disjoint, never adjacent
    private readonly IovaRange[] _usable;
    private readonly Lock _lock = new();

    /// <summary>Starts with every usable range free, less the first page of the address space.</summary>
    /// <param name="usable">The usable ranges (inclusive ends), in any order; they must not overlap.</param>
    public IovaAllocator(IReadOnlyList<IovaRange> usable)
    {
        ArgumentNullException.ThrowIfNull(usable);
        _usable = [.. usable.OrderBy(r => r.Start)];
        for (int i = 0; i < _usable.Length; i++)
        {
            if (_usable[i].End < _usable[i].Start)
                throw new ArgumentException($"IOVA range {_usable[i]} ends before it starts.", nameof(usable));
            if (i > 0 && _usable[i].Start <= _usable[i - 1].End)
                throw new ArgumentException($"IOVA ranges {_usable[i - 1]} and {_usable[i]} overlap.", nameof(usable));
            if (_usable[i].End < ZeroPageBytes)
                continue;
            var r = _usable[i] with { Start = Math.Max(_usable[i].Start, ZeroPageBytes) };
            Add(r);
        }
    }

    /// <summary>The free ranges now, lowest first.</summary>
    public IReadOnlyList<IovaRange> FreeRanges { get { lock (_lock) return [.. _free]; } }

    /// <summary>
    /// The alignment a mapper should give the IOVA of <paramref name="length"/> bytes at
    /// <paramref name="virtualAddress"/>: the largest power of two that divides both, at most 2 MiB (a hugepage),
    /// at least 4 KiB. Buffers aligned in memory are then aligned on the device too.
    /// </summary>
    public static ulong NaturalAlignment(nint virtualAddress, ulong length)
    {
        ulong bits = (ulong)virtualAddress | length | DmaOptions.HugePageBytes;
        return Math.Max(4096UL, bits & (~bits + 1));
    }

    /// <summary>Takes the lowest free range of <paramref name="length"/> bytes aligned to <paramref name="alignment"/> that ends at or below <paramref name="dmaMask"/>.</summary>
    /// <exception cref="DmaException">No such range: the message says whether the mask or exhaustion is the reason.</exception>
    public ulong Allocate(ulong length, ulong alignment, ulong dmaMask)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        if (alignment == 0 || !BitOperations.IsPow2(alignment))
            throw new ArgumentOutOfRangeException(nameof(alignment), $"Alignment 0x{alignment:x} is not a power of two.");
        lock (_lock)
        {
            bool fitsAboveMask = false;
            for (int i = 0; i < _free.Count; i++)
            {
                var r = _free[i];
                ulong start = AlignUp(r.Start, alignment, out bool overflow);
                if (overflow || start < r.Start || start > r.End || r.End - start < length - 1)
                    continue;
                ulong end = start + (length - 1);
                if (end > dmaMask)
                {
                    fitsAboveMask = true;
                    continue;
                }
                Carve(i, start, end);
                return start;
            }
            if (fitsAboveMask || _free.Count > 0 && _free[0].Start > dmaMask)
                throw new DmaException($"no usable IOVA range below the DMA mask 0x{dmaMask:x} for 0x{length:x} bytes " +
                    $"(free: {Describe(_free)}): free DMA memory, or use a device with a wider DMA mask");
            throw new DmaException($"IOVA space exhausted: no free range of 0x{length:x} bytes aligned to 0x{alignment:x} " +
                $"(free: {Describe(_free)}); free DMA memory or allocate fewer, larger chunks");
        }
    }

    /// <summary>Takes exactly <paramref name="length"/> bytes at <paramref name="iova"/> (to map memory again at a known device address).</summary>
    /// <exception cref="DmaException">Part of the range is not free or not usable.</exception>
    public void Reserve(ulong iova, ulong length)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        ulong end = LastOf(iova, length);
        lock (_lock)
        {
            int i = _free.FindIndex(r => r.Start <= iova && end <= r.End);
            if (i < 0)
                throw new DmaException($"IOVA range 0x{iova:x}-0x{end:x} cannot be reserved: it is not inside one free usable range (free: {Describe(_free)})");
            Carve(i, iova, end);
        }
    }

    /// <summary>Gives back <paramref name="length"/> bytes at <paramref name="iova"/> taken by <see cref="Allocate"/> or <see cref="Reserve"/>.</summary>
    /// <exception cref="InvalidOperationException">Part of the range is free already or was never usable.</exception>
    public void Free(ulong iova, ulong length)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        ulong end = LastOf(iova, length);
        lock (_lock)
        {
            if (!Array.Exists(_usable, u => u.Start <= iova && end <= u.End) || iova < ZeroPageBytes)
                throw new InvalidOperationException($"IOVA range 0x{iova:x}-0x{end:x} is not inside a usable range: it was never allocated.");
            if (_free.Exists(r => r.Start <= end && iova <= r.End))
                throw new InvalidOperationException($"IOVA range 0x{iova:x}-0x{end:x} is (partly) free already: freed twice?");
            Add(new IovaRange(iova, end));
        }
    }

    private static ulong LastOf(ulong iova, ulong length) =>
        iova + (length - 1) >= iova ? iova + (length - 1) : throw new ArgumentOutOfRangeException(nameof(length), "The range wraps past 2^64.");

    private static ulong AlignUp(ulong value, ulong alignment, out bool overflow)
    {
        ulong r = (value + (alignment - 1)) & ~(alignment - 1);
        overflow = r < value;
        return r;
    }

    private void Carve(int index, ulong start, ulong end)
    {
        var r = _free[index];
        _free.RemoveAt(index);
        if (end < r.End)
            _free.Insert(index, new IovaRange(end + 1, r.End));
        if (start > r.Start)
            _free.Insert(index, new IovaRange(r.Start, start - 1));
    }

    private void Add(IovaRange range)
    {
        int i = 0;
        while (i < _free.Count && _free[i].Start < range.Start)
            i++;
        // Merge with the neighbours it touches (an inclusive end + 1 == the next start); the ranges of _usable
        // never touch each other unless the caller gave adjacent ranges, which may merge too.
        if (i > 0 && _free[i - 1].End != ulong.MaxValue && _free[i - 1].End + 1 == range.Start)
        {
            range = range with { Start = _free[i - 1].Start };
            _free.RemoveAt(--i);
        }
        if (i < _free.Count && range.End != ulong.MaxValue && range.End + 1 == _free[i].Start)
        {
            range = range with { End = _free[i].End };
            _free.RemoveAt(i);
        }
        _free.Insert(i, range);
    }

    private static string Describe(List<IovaRange> ranges) =>
        ranges.Count == 0 ? "none" : string.Join(", ", ranges.Take(8)) + (ranges.Count > 8 ? $", … ({ranges.Count} ranges)" : "");
}
