using System.Runtime.InteropServices;

namespace Hotplug.Nvme;

/// <summary>A submission queue entry (64 bytes, NVMe 2.0 figure 88), built on the stack and copied into the queue.</summary>
[StructLayout(LayoutKind.Sequential, Size = NvmeRegisters.SqEntrySize)]
internal struct NvmeCommand
{
    public uint Dw0;   // opcode 7:0, CID 31:16 (set at submission)
    public uint Nsid;
    public ulong Reserved;
    public ulong Mptr;
    public ulong Prp1;
    public ulong Prp2;
    public uint Cdw10, Cdw11, Cdw12, Cdw13, Cdw14, Cdw15;

    public static NvmeCommand Create(byte opcode, uint nsid = 0) => new() { Dw0 = opcode, Nsid = nsid };

    public readonly byte Opcode => (byte)Dw0;
}
