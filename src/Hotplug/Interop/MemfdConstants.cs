namespace Hotplug.Interop;

/// <summary>memfd flags missing from Tmds.LibC (values from linux/memfd.h and asm-generic/hugetlb_encode.h).</summary>
internal static class MemfdConstants
{
    /// <summary>2 MiB hugepages for <c>MFD_HUGETLB</c>: <c>HUGETLB_FLAG_ENCODE_2MB</c> = 21 &lt;&lt; 26.</summary>
    public const uint MFD_HUGE_2MB = 21u << 26;
}
