using System.Runtime.InteropServices;
using Hotplug.Interop;
using Microsoft.Win32.SafeHandles;
using static Tmds.Linux.LibC;

namespace Hotplug.Dma;

/// <summary>
/// Physical addresses of this process's pages, from <c>/proc/self/pagemap</c> (one 64-bit entry per base page:
/// bit 63 present, bits 0–54 the page frame number). The kernel shows frame numbers only to CAP_SYS_ADMIN: others
/// read 0. A page must be resident (touched, and locked or hugetlb) to have an address.
/// </summary>
internal static class Pagemap
{
    /// <summary>The file read.</summary>
    public const string FilePath = "/proc/self/pagemap";

    private const ulong Present = 1UL << 63;
    private const ulong PfnMask = (1UL << 55) - 1;
    private const int Batch = 512; // entries per read: one 2 MiB hugepage

    /// <summary>The physical address of the byte at <paramref name="virtualAddress"/>.</summary>
    /// <exception cref="DmaException">The page is not resident, or frame numbers are hidden (not root).</exception>
    public static ulong PhysicalAddress(nint virtualAddress) => PhysicalRange(virtualAddress, 1);

    /// <summary>
    /// The physical address of <paramref name="virtualAddress"/>, after checking that all of the
    /// <paramref name="length"/> bytes from there are resident and physically contiguous.
    /// </summary>
    /// <exception cref="DmaException">A page is not resident, frame numbers are hidden (not root), or the range is not contiguous.</exception>
    public static ulong PhysicalRange(nint virtualAddress, ulong length)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        ulong pageSize = (ulong)Environment.SystemPageSize;
        ulong firstPage = (ulong)virtualAddress / pageSize;
        ulong pages = ((ulong)virtualAddress + length - 1) / pageSize - firstPage + 1;
        using var file = new SafeFileHandle(Sys.OpenFd(FilePath, O_RDONLY), ownsHandle: true);
        Span<ulong> entries = stackalloc ulong[Batch];
        ulong startFrame = 0;
        for (ulong done = 0; done < pages;)
        {
            int n = (int)Math.Min((ulong)Batch, pages - done);
            Read(file, firstPage + done, entries[..n]);
            for (int i = 0; i < n; i++, done++)
            {
                ulong entry = entries[i];
                ulong va = (firstPage + done) * pageSize;
                if ((entry & Present) == 0)
                    throw new DmaException($"the page at 0x{va:x} is not resident, so it has no physical address: DMA memory must be touched and locked (or hugepages)");
                ulong frame = entry & PfnMask;
                if (frame == 0)
                    throw new DmaException("reading physical addresses needs root (CAP_SYS_ADMIN): /proc/self/pagemap shows page frame 0 to others; run as root or use vfio-pci");
                if (done == 0)
                    startFrame = frame;
                else if (frame != startFrame + done)
                    throw new DmaException($"DMA memory at 0x{(ulong)virtualAddress:x} (0x{length:x} bytes) is not physically contiguous: " +
                        $"the page at 0x{va:x} is at physical 0x{frame * pageSize:x}, not 0x{(startFrame + done) * pageSize:x}; " +
                        "uio DMA needs hugepages (reserve them: hugepages=N on the kernel command line), or use vfio-pci");
            }
        }
        return startFrame * pageSize + (ulong)virtualAddress % pageSize;
    }

    private static void Read(SafeFileHandle file, ulong page, Span<ulong> entries)
    {
        var bytes = MemoryMarshal.AsBytes(entries);
        long offset = checked((long)(page * sizeof(ulong)));
        while (bytes.Length > 0)
        {
            int got = RandomAccess.Read(file, bytes, offset);
            if (got <= 0)
                throw new DmaException($"{FilePath} ended at offset 0x{offset:x}: the address is outside this process's address space");
            bytes = bytes[got..];
            offset += got;
        }
    }
}
