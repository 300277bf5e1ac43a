using Hotplug.Dma;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hotplug.Tests.Dma;

/// <summary>Physical addresses of this process's own memory (root: <c>Requires=Root</c>), and the refusals, with a fake sysfs device directory.</summary>
public sealed unsafe class PhysicalDmaMapperTests : IDisposable
{
    private readonly string _device = Directory.CreateTempSubdirectory("hotplug-dma-").FullName;

    public void Dispose() => Directory.Delete(_device, recursive: true);

    private string Device(string? iommuType)
    {
        string dir = Path.Combine(_device, "0000:01:00.0");
        Directory.CreateDirectory(dir);
        if (iommuType is not null)
        {
            Directory.CreateDirectory(Path.Combine(dir, "iommu_group"));
            File.WriteAllText(Path.Combine(dir, "iommu_group", "type"), iommuType + "\n");
        }
        return dir;
    }

    private static nint LockedPages(int pages)
    {
        void* p = mmap(null, (size_t)(nuint)(pages * 4096), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        Assert.True(p != MAP_FAILED);
        Assert.Equal(0, mlock(p, (size_t)(nuint)(pages * 4096)));
        new Span<byte>(p, pages * 4096).Fill(1);
        return (nint)p;
    }

    private static void Free(nint p, int pages) => munmap((void*)p, (size_t)(nuint)(pages * 4096));

    [Fact]
    [Trait("Requires", "Root")] // page frame numbers in /proc/self/pagemap
    public void Translates_a_locked_4_KiB_page_to_a_page_aligned_physical_address()
    {
        nint p = LockedPages(1);
        try
        {
            var mapper = new PhysicalDmaMapper(Device("identity"), ulong.MaxValue);
            ulong pa = mapper.Map(p, 4096);
            Assert.NotEqual(0UL, pa);
            Assert.Equal(0UL, pa % 4096);
            Assert.Equal(pa + 0x10, Pagemap.PhysicalAddress(p + 0x10));
            Assert.False(mapper.AcceptsSmallPages);
        }
        finally
        {
            Free(p, 1);
        }
    }

    [Theory]
    [InlineData("DMA")]
    [InlineData("DMA-FQ")]
    public void Refuses_a_device_whose_dma_the_iommu_translates(string type)
    {
        var e = Assert.Throws<DmaException>(() => new PhysicalDmaMapper(Device(type), ulong.MaxValue));
        Assert.Contains("physical addresses would fault silently; boot with iommu=pt or use vfio-pci", e.Message);
        Assert.Contains(type, e.Message);
    }

    [Theory]
    [InlineData("identity")]
    [InlineData(null)]
    public void Accepts_a_device_with_identity_mapping_or_no_iommu(string? type)
    {
        var mapper = new PhysicalDmaMapper(Device(type), ulong.MaxValue);
        Assert.Equal(type, mapper.IommuType);
        Assert.Contains("0000:01:00.0", mapper.Describe);
    }

    [Fact]
    [Trait("Requires", "Root")]
    public void Refuses_an_address_above_the_dma_mask()
    {
        nint p = LockedPages(1);
        try
        {
            var mapper = new PhysicalDmaMapper(Device(null), 0xfff); // no page of RAM sits below 4 KiB's mask
            var e = Assert.Throws<DmaException>(() => mapper.Map(p, 4096));
            Assert.Contains("above the device's DMA mask 0xfff", e.Message);
        }
        finally
        {
            Free(p, 1);
        }
    }

    [Fact]
    public void Refuses_small_pages_beyond_one_page()
    {
        nint p = LockedPages(2);
        try
        {
            var mapper = new PhysicalDmaMapper(Device(null), ulong.MaxValue);
            var e = Assert.Throws<DmaException>(() => mapper.Map(p, 8192));
            Assert.Contains("reserve hugepages", e.Message);
        }
        finally
        {
            Free(p, 2);
        }
    }

    [Fact]
    [Trait("Requires", "Root")]
    public void A_range_that_is_not_physically_contiguous_is_refused()
    {
        // The same file page mapped twice, side by side: the second page's frame equals the first's, never first + 1.
        int fd;
        fixed (byte* name = "dma-test\0"u8)
            fd = memfd_create(name, MFD_CLOEXEC);
        Assert.True(fd >= 0);
        try
        {
            Assert.Equal(0, ftruncate(fd, 4096));
            void* p = mmap(null, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            Assert.True(p != MAP_FAILED);
            try
            {
                Assert.True(mmap((byte*)p + 4096, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED);
                *(byte*)p = 1;
                Assert.Equal(1, *((byte*)p + 4096));
                var e = Assert.Throws<DmaException>(() => Pagemap.PhysicalRange((nint)p, 8192));
                Assert.Contains("not physically contiguous", e.Message);
            }
            finally
            {
                munmap(p, 8192);
            }
        }
        finally
        {
            close(fd);
        }
    }

    [Fact]
    public void An_untouched_page_has_no_physical_address()
    {
        void* p = mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        try
        {
            var e = Assert.Throws<DmaException>(() => Pagemap.PhysicalAddress((nint)p));
            Assert.Contains("not resident", e.Message);
        }
        finally
        {
            munmap(p, 4096);
        }
    }
}
