namespace Hotplug.Nvme;

/// <summary>An active namespace, from IDENTIFY (CNS 0): its size and its formatted LBA size.</summary>
public sealed class NvmeNamespace
{
    internal NvmeNamespace(uint id, ulong blockCount, int blockSize)
    {
        Id = id;
        BlockCount = blockCount;
        BlockSize = blockSize;
    }

    /// <summary>The namespace id (1-based).</summary>
    public uint Id { get; }

    /// <summary>Number of logical blocks (NSZE).</summary>
    public ulong BlockCount { get; }

    /// <summary>Bytes per logical block (the formatted LBA format's LBADS).</summary>
    public int BlockSize { get; }

    /// <summary>Size in bytes.</summary>
    public ulong Bytes => BlockCount * (ulong)BlockSize;

    /// <inheritdoc />
    public override string ToString() => $"namespace {Id}: {BlockCount} x {BlockSize} B";
}
