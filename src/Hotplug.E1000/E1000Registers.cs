namespace Hotplug.E1000;

/// <summary>
/// The 82540EM registers and bits this driver uses (Intel's 8254x software developer's manual, section 13), and
/// the legacy descriptor layouts (3.2.3 receive, 3.3.3 transmit).
/// </summary>
internal static class E1000Registers
{
    public const uint AllOnes = 0xFFFFFFFF;

    // General
    public const ulong Ctrl = 0x0000, Status = 0x0008, Eerd = 0x0014;
    public const ulong Icr = 0x00C0, Ims = 0x00D0, Imc = 0x00D8;

    // Receive
    public const ulong Rctl = 0x0100, Rdbal = 0x2800, Rdbah = 0x2804, Rdlen = 0x2808, Rdh = 0x2810, Rdt = 0x2818, Rdtr = 0x2820;

    // Transmit
    public const ulong Tctl = 0x0400, Tipg = 0x0410, Tdbal = 0x3800, Tdbah = 0x3804, Tdlen = 0x3808, Tdh = 0x3810, Tdt = 0x3818;

    // Filters and statistics
    public const ulong Mta = 0x5200, Ral0 = 0x5400, Rah0 = 0x5404;
    public const int MtaEntries = 128;
    public const ulong Mpc = 0x4010;

    // CTRL
    public const uint CtrlFd = 1u << 0, CtrlLrst = 1u << 3, CtrlAsde = 1u << 5, CtrlSlu = 1u << 6, CtrlIlos = 1u << 7;
    public const uint CtrlRst = 1u << 26, CtrlVme = 1u << 30, CtrlPhyRst = 1u << 31;

    // STATUS
    public const uint StatusFd = 1u << 0, StatusLu = 1u << 1;
    public const int StatusSpeedShift = 6;

    // EERD (82540EM layout: start bit 0, done bit 4, word address 15:8, data 31:16)
    public const uint EerdStart = 1u << 0, EerdDone = 1u << 4;
    public const int EerdAddrShift = 8, EerdDataShift = 16;

    // RAH
    public const uint RahAv = 1u << 31;

    // RCTL
    public const uint RctlEn = 1u << 1, RctlUpe = 1u << 3, RctlMpe = 1u << 4, RctlBam = 1u << 15, RctlSecrc = 1u << 26;
    public const uint RctlRdmtsHalf = 0u << 8, RctlBsize2048 = 0u << 16;

    // TCTL / TIPG
    public const uint TctlEn = 1u << 1, TctlPsp = 1u << 3;
    public const uint TctlCt = 0x0Fu << 4, TctlColdFullDuplex = 0x40u << 12;
    public const uint TipgDefault = 10u | (8u << 10) | (6u << 20); // IPGT 10, IPGR1 8, IPGR2 6 (copper)

    // Descriptors: 16 bytes each; a ring is a multiple of 8 of them (RDLEN / TDLEN are multiples of 128 bytes)
    public const int DescriptorSize = 16;
    public const int RingAlignment = 128;

    // Receive descriptor: addr 0..7, length 8..9, checksum 10..11, status 12, errors 13, special 14..15
    public const int RxLength = 8, RxStatus = 12, RxErrors = 13;
    public const byte RxStatusDd = 1 << 0, RxStatusEop = 1 << 1;

    // Transmit descriptor: addr 0..7, length 8..9, cso 10, cmd 11, status 12, css 13, special 14..15
    public const int TxLength = 8, TxCmd = 11, TxStatus = 12;
    public const byte TxCmdEop = 1 << 0, TxCmdIfcs = 1 << 1, TxCmdRs = 1 << 3;
    public const byte TxStatusDd = 1 << 0;

    /// <summary>The receive buffer size RCTL.BSIZE 00 (without BSEX) selects.</summary>
    public const int RxBufferSize = 2048;

    public static int SpeedMbps(uint status) => ((status >> StatusSpeedShift) & 3) switch { 0 => 10, 1 => 100, _ => 1000 };
}
