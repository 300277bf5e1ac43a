using System.Runtime.InteropServices;
using Hotplug.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Dma;

/// <summary>
/// One piece of DMA memory taken from the system and mapped for the device once: hugepages (a hugetlb memfd, else an
/// anonymous <c>MAP_HUGETLB</c> mapping) or, if allowed, locked 4 KiB pages. It is zeroed and <c>MADV_DONTFORK</c>
/// (a child forked without exec must not share pages a device writes to). Buffers are carved from its free list.
/// </summary>
internal sealed unsafe class DmaChunk
{
    private const ulong SmallPageBytes = 4096;

    private DmaChunk(nint address, ulong length, ulong pageSize, ulong iova, bool dedicated)
    {
        Address = address;
        Length = length;
        PageSize = pageSize;
        Iova = iova;
        Dedicated = dedicated;
        FreeList = new ChunkFreeList(length);
        ulong bits = (ulong)address | iova;
        MaxAlignment = bits & (~bits + 1);
    }

    /// <summary>Start in this process.</summary>
    public nint Address { get; }

    /// <summary>Length in bytes, a multiple of <see cref="PageSize"/>.</summary>
    public ulong Length { get; }

    /// <summary>2 MiB or 4 KiB.</summary>
    public ulong PageSize { get; }

    /// <summary>The device address of the first byte.</summary>
    public ulong Iova { get; }

    /// <summary>Made for one buffer larger than a chunk: released as soon as that buffer is.</summary>
    public bool Dedicated { get; }

    /// <summary>The largest alignment a buffer can have both in memory and on the device.</summary>
    public ulong MaxAlignment { get; }

    /// <summary>Free space (the allocator's lock guards it).</summary>
    public ChunkFreeList FreeList { get; }

    /// <summary>The chunk as the integrator replays it.</summary>
    public DmaRegion Region => new(Address, Length, Iova, PageSize);

    /// <summary>Takes at least <paramref name="minimumLength"/> bytes from the system and maps them through <paramref name="mapper"/>.</summary>
    /// <param name="minimumLength">Bytes wanted; rounded up to the page size.</param>
    /// <param name="dedicated">For one large buffer.</param>
    /// <param name="options">Which kinds of memory to try.</param>
    /// <param name="mapper">Makes the chunk device-visible.</param>
    /// <param name="hugePageFailure">Why hugepages were not used, when the chunk is of 4 KiB pages; else null.</param>
    /// <exception cref="DmaException">No memory the mapper accepts; the message names the fix.</exception>
    public static DmaChunk Create(ulong minimumLength, bool dedicated, DmaOptions options, IDmaMapper mapper, out string? hugePageFailure)
    {
        hugePageFailure = null;
        ulong hugeLength = RoundUp(minimumLength, DmaOptions.HugePageBytes);
        string memfdError = "", mmapError = "";
        nint p = options.TryHugePages ? TryHugeMemfd(hugeLength, out memfdError) : 0;
        if (p == 0 && options.TryHugePages)
            p = TryHugeAnonymous(hugeLength, out mmapError);
        ulong length = hugeLength, pageSize = DmaOptions.HugePageBytes;
        if (p == 0)
        {
            hugePageFailure = options.TryHugePages ? $"memfd_create(MFD_HUGETLB): {memfdError}; mmap(MAP_HUGETLB): {mmapError}" : "hugepages not tried";
            if (!mapper.AcceptsSmallPages || !options.AllowSmallPages)
                throw new DmaException($"no hugepages for 0x{hugeLength:x} bytes of DMA memory ({hugePageFailure}), and " +
                    (mapper.AcceptsSmallPages ? "DmaOptions.AllowSmallPages is off" : $"{mapper.Describe} needs physically contiguous memory") +
                    ": reserve hugepages: hugepages=N on the kernel command line or echo N > /proc/sys/vm/nr_hugepages");
            length = RoundUp(minimumLength, SmallPageBytes);
            pageSize = SmallPageBytes;
            p = SmallLocked(length);
        }

        try
        {
            if (madvise((void*)p, (size_t)(nuint)length, MADV_DONTFORK) != 0)
                throw Sys.IoError("madvise(MADV_DONTFORK) of DMA memory");
            NativeMemory.Clear((void*)p, (nuint)length);
            ulong iova = mapper.Map(p, length);
            if (iova % SmallPageBytes != 0)
            {
                mapper.Unmap(p, length, iova);
                throw new DmaException($"{mapper.Describe} gave DMA memory the unaligned device address 0x{iova:x}");
            }
            return new DmaChunk(p, length, pageSize, iova, dedicated);
        }
        catch
        {
            munmap((void*)p, (size_t)(nuint)length);
            throw;
        }
    }

    /// <summary>Unmaps the chunk from the device, then gives it back to the system. Buffers in it must be dead.</summary>
    public void Release(IDmaMapper mapper)
    {
        try
        {
            mapper.Unmap(Address, Length, Iova);
        }
        finally
        {
            munmap((void*)Address, (size_t)(nuint)Length);
        }
    }

    private static nint TryHugeMemfd(ulong length, out string error)
    {
        int fd;
        fixed (byte* name = Sys.NulTerminated("hotplug-dma"))
            fd = memfd_create(name, MFD_CLOEXEC | MFD_HUGETLB | MemfdConstants.MFD_HUGE_2MB);
        if (fd < 0)
        {
            error = Sys.IoError("memfd_create").Message;
            return 0;
        }
        try
        {
            if (ftruncate(fd, (off_t)(long)length) != 0)
            {
                error = Sys.IoError("ftruncate").Message;
                return 0;
            }
            // The pages are reserved at mmap time: with too few hugepages free this fails (ENOMEM), never a SIGBUS later.
            void* p = mmap(null, (size_t)(nuint)length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
            error = p == MAP_FAILED ? Sys.IoError("mmap").Message : "";
            return p == MAP_FAILED ? 0 : (nint)p;
        }
        finally
        {
            close(fd); // the mapping keeps the memory
        }
    }

    private static nint TryHugeAnonymous(ulong length, out string error)
    {
        void* p = mmap(null, (size_t)(nuint)length, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB | MAP_POPULATE, -1, 0);
        error = p == MAP_FAILED ? Sys.IoError("mmap").Message : "";
        return p == MAP_FAILED ? 0 : (nint)p;
    }

    private static nint SmallLocked(ulong length)
    {
        void* p = mmap(null, (size_t)(nuint)length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED)
            throw new DmaException($"cannot map 0x{length:x} bytes of DMA memory: {Sys.IoError("mmap").Message}", Sys.IoError("mmap"));
        if (mlock(p, (size_t)(nuint)length) != 0)
        {
            var e = Sys.IoError("mlock");
            munmap(p, (size_t)(nuint)length);
            throw new DmaException($"cannot lock 0x{length:x} bytes of DMA memory ({e.Message}): raise the locked-memory limit " +
                "(ulimit -l, LimitMEMLOCK= in a systemd unit) or reserve hugepages", e);
        }
        return (nint)p;
    }

    private static ulong RoundUp(ulong value, ulong unit) => checked((value + unit - 1) / unit * unit);
}
