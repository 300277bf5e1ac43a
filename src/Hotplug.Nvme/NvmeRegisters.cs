namespace Hotplug.Nvme;

/// <summary>Controller registers (NVMe base specification 2.0, section 3.1) and the fields the driver uses.</summary>
internal static class NvmeRegisters
{
    public const ulong Cap = 0x00, Vs = 0x08, Intms = 0x0C, Cc = 0x14, Csts = 0x1C, Aqa = 0x24, Asq = 0x28, Acq = 0x30;
    public const ulong Doorbells = 0x1000;

    public const uint CcEnable = 1, CcIosqes = 6u << 16, CcIocqes = 4u << 20, CcShnNormal = 1u << 14, CcShnMask = 3u << 14;
    public const uint CstsReady = 1, CstsFatal = 2, CstsShstMask = 3u << 2, CstsShstComplete = 2u << 2;
    public const uint AllOnes = 0xFFFFFFFF;

    public const int PageSize = 4096; // CC.MPS = 0
    public const int SqEntrySize = 64, CqEntrySize = 16;

    public static int Mqes(ulong cap) => (int)(cap & 0xFFFF) + 1;
    public static TimeSpan Timeout(ulong cap) => TimeSpan.FromMilliseconds(Math.Max(1, (cap >> 24) & 0xFF) * 500.0);
    public static int DoorbellStride(ulong cap) => 4 << (int)((cap >> 32) & 0xF);
    public static int MinPageSize(ulong cap) => 4096 << (int)((cap >> 48) & 0xF);
}

/// <summary>Opcodes (admin and NVM command set).</summary>
internal static class NvmeOpcode
{
    public const byte DeleteIoSq = 0x00, CreateIoSq = 0x01, DeleteIoCq = 0x04, CreateIoCq = 0x05, Identify = 0x06, SetFeatures = 0x09;
    public const byte Flush = 0x00, Write = 0x01, Read = 0x02;
}
