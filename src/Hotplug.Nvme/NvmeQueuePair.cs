using System.Runtime.CompilerServices;
using Hotplug.Dma;
using static Hotplug.Nvme.NvmeRegisters;

namespace Hotplug.Nvme;

/// <summary>
/// An I/O submission / completion queue pair of one namespace, polled (SPDK's <c>spdk_nvme_qpair</c>): give it to
/// one thread. Two ways to use it:
/// <list type="bullet">
/// <item>async: <see cref="ReadAsync"/>, <see cref="WriteAsync"/>, <see cref="FlushAsync"/> submit and then poll
///   the completion queue until their command is done (yielding between polls);</item>
/// <item>batch, for data-path loops: <see cref="SubmitRead"/>, <see cref="SubmitWrite"/>, <see cref="SubmitFlush"/>
///   with a tag, then <see cref="ProcessCompletions"/>, which calls <see cref="CompletionHandler"/> (tag, status)
///   for each completed command.</item>
/// </list>
/// Every command completes: with the controller's status, or with <see cref="NvmeStatus.ControllerRemoved"/> once
/// the controller is gone. Bad requests throw before anything is sent.
/// </summary>
public sealed class NvmeQueuePair : IDisposable
{
    private readonly NvmeController _controller;
    private readonly NvmeQueue _queue;
    private bool _disposed;

    internal NvmeQueuePair(NvmeController controller, NvmeQueue queue, NvmeNamespace ns)
    {
        _controller = controller;
        _queue = queue;
        Namespace = ns;
    }

    /// <summary>The queue id (1-based).</summary>
    public ushort Id => _queue.Id;

    /// <summary>Entries per queue (at most Depth - 1 commands outstanding).</summary>
    public int Depth => _queue.Depth;

    /// <summary>The namespace its commands address.</summary>
    public NvmeNamespace Namespace { get; }

    /// <summary>Commands sent and not yet completed.</summary>
    public int Outstanding { get { lock (_queue.Gate) return _queue.Outstanding; } }

    /// <summary>Called by <see cref="ProcessCompletions"/> for each completed batch command (tag, status).</summary>
    public Action<ulong, NvmeStatus>? CompletionHandler
    {
        get => _queue.OnBatchCompletion;
        set => _queue.OnBatchCompletion = value;
    }

    /// <summary>Reads <paramref name="blocks"/> blocks at <paramref name="lba"/> into <paramref name="buffer"/> at <paramref name="bufferOffset"/> (0 blocks: as many as fill the rest of the buffer).</summary>
    /// <exception cref="ArgumentException">The buffer is not this controller's DMA memory, too small, or its length or offset misaligned.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The blocks go past the end of the namespace, or the transfer is larger than MDTS.</exception>
    /// <exception cref="ObjectDisposedException">The buffer or the queue pair is disposed.</exception>
    public ValueTask<NvmeStatus> ReadAsync(ulong lba, DmaBuffer buffer, uint blocks = 0, ulong bufferOffset = 0) =>
        RunAsync(Build(NvmeOpcode.Read, lba, buffer, blocks, bufferOffset, out ulong bytes), buffer.Iova + bufferOffset, bytes);

    /// <summary>Writes <paramref name="blocks"/> blocks at <paramref name="lba"/> from <paramref name="buffer"/> (see <see cref="ReadAsync"/>).</summary>
    /// <exception cref="ArgumentException">As <see cref="ReadAsync"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="ReadAsync"/>.</exception>
    public ValueTask<NvmeStatus> WriteAsync(ulong lba, DmaBuffer buffer, uint blocks = 0, ulong bufferOffset = 0) =>
        RunAsync(Build(NvmeOpcode.Write, lba, buffer, blocks, bufferOffset, out ulong bytes), buffer.Iova + bufferOffset, bytes);

    /// <summary>Flushes the namespace's volatile write cache.</summary>
    public ValueTask<NvmeStatus> FlushAsync() => RunAsync(NvmeCommand.Create(NvmeOpcode.Flush, Namespace.Id), 0, 0);

    /// <summary>Submits a read; its completion comes through <see cref="ProcessCompletions"/> with <paramref name="tag"/>.</summary>
    /// <returns>Success if sent; <see cref="NvmeStatus.QueueFull"/> or <see cref="NvmeStatus.ControllerRemoved"/> if not (nothing sent, no completion follows).</returns>
    /// <exception cref="ArgumentException">As <see cref="ReadAsync"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="ReadAsync"/>.</exception>
    public NvmeStatus SubmitRead(ulong lba, DmaBuffer buffer, ulong tag, uint blocks = 0, ulong bufferOffset = 0) =>
        SubmitBatch(Build(NvmeOpcode.Read, lba, buffer, blocks, bufferOffset, out ulong bytes), buffer.Iova + bufferOffset, bytes, tag);

    /// <summary>Submits a write (see <see cref="SubmitRead"/>).</summary>
    /// <exception cref="ArgumentException">As <see cref="ReadAsync"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="ReadAsync"/>.</exception>
    public NvmeStatus SubmitWrite(ulong lba, DmaBuffer buffer, ulong tag, uint blocks = 0, ulong bufferOffset = 0) =>
        SubmitBatch(Build(NvmeOpcode.Write, lba, buffer, blocks, bufferOffset, out ulong bytes), buffer.Iova + bufferOffset, bytes, tag);

    /// <summary>Submits a flush (see <see cref="SubmitRead"/>).</summary>
    public NvmeStatus SubmitFlush(ulong tag) => SubmitBatch(NvmeCommand.Create(NvmeOpcode.Flush, Namespace.Id), 0, 0, tag);

    /// <summary>
    /// Reaps up to <paramref name="max"/> completions, calling <see cref="CompletionHandler"/> for each batch command;
    /// also notices a controller that went away (CSTS all-ones, a dead BAR, an all-ones completion) and then
    /// completes everything outstanding with <see cref="NvmeStatus.ControllerRemoved"/>. Returns the number reaped.
    /// </summary>
    public int ProcessCompletions(int max = int.MaxValue)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_queue.Gate)
            return _queue.Poll(max);
    }

    private NvmeCommand Build(byte opcode, ulong lba, DmaBuffer buffer, uint blocks, ulong offset, out ulong bytes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.IsDisposed)
            throw new ObjectDisposedException(nameof(DmaBuffer), "The DMA buffer was given back: it is not DMA memory any more.");
        if (!ReferenceEquals(buffer.Allocator, _controller.Dma))
            throw new ArgumentException($"The buffer is not DMA memory of this controller's allocator: allocate it from the DmaAllocator given to NvmeController.Attach.", nameof(buffer));
        if (offset % 4 != 0 || offset >= buffer.Length)
            throw new ArgumentException($"The buffer offset 0x{offset:x} must be a multiple of 4 inside the buffer (0x{buffer.Length:x} bytes).", nameof(offset));
        ulong room = buffer.Length - offset;
        ulong bs = (ulong)Namespace.BlockSize;
        if (blocks == 0)
        {
            if (room % bs != 0)
                throw new ArgumentException($"The buffer's length from offset 0x{offset:x} (0x{room:x} bytes) is not a multiple of the block size ({bs}); name the block count.", nameof(buffer));
            blocks = checked((uint)(room / bs));
        }
        bytes = blocks * bs;
        if (bytes > room)
            throw new ArgumentException($"The buffer is too small: {blocks} blocks of {bs} bytes need {bytes} bytes, it has {room} from offset 0x{offset:x}.", nameof(buffer));
        if (blocks > 65536 || bytes > (ulong)_controller.MaxTransferBytes)
            throw new ArgumentOutOfRangeException(nameof(blocks), blocks, $"At most {_controller.MaxTransferBytes} bytes per command (MDTS).");
        if (lba >= Namespace.BlockCount || blocks > Namespace.BlockCount - lba)
            throw new ArgumentOutOfRangeException(nameof(lba), lba, $"Blocks {lba}..{lba + blocks - 1} are past the end of namespace {Namespace.Id} ({Namespace.BlockCount} blocks).");
        var c = NvmeCommand.Create(opcode, Namespace.Id);
        c.Cdw10 = (uint)lba;
        c.Cdw11 = (uint)(lba >> 32);
        c.Cdw12 = blocks - 1;
        return c;
    }

    /// <summary>PRP1 / PRP2, or PRP2 pointing at the command id's PRP list when the transfer spans more than two pages.</summary>
    private unsafe void SetPrps(ref NvmeCommand c, int cid, ulong iova, ulong bytes)
    {
        if (bytes == 0)
            return;
        c.Prp1 = iova;
        ulong first = PageSize - (iova & (PageSize - 1));
        if (bytes <= first)
            return;
        ulong next = iova + first, rest = bytes - first;
        if (rest <= PageSize)
        {
            c.Prp2 = next;
            return;
        }
        var (list, listIova) = _queue.PrpList(cid);
        int pages = (int)((rest + PageSize - 1) / PageSize);
        var entries = (ulong*)list;
        for (int i = 0; i < pages; i++)
            entries[i] = next + (ulong)i * PageSize;
        c.Prp2 = listIova;
    }

    private NvmeStatus SubmitBatch(NvmeCommand c, ulong iova, ulong bytes, ulong tag)
    {
        lock (_queue.Gate)
        {
            if (_controller.IsRemoved)
                return _controller.Failure;
            int cid = _queue.TryTakeCid();
            if (cid < 0)
                return NvmeStatus.QueueFull;
            SetPrps(ref c, cid, iova, bytes);
            return _queue.Submit(cid, ref c, isAsync: false, tag) ? NvmeStatus.Success : _controller.Failure;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<NvmeStatus> RunAsync(NvmeCommand c, ulong iova, ulong bytes)
    {
        int cid;
        while (true)
        {
            lock (_queue.Gate)
            {
                if (_controller.IsRemoved)
                    return _controller.Failure;
                cid = _queue.TryTakeCid();
                if (cid >= 0)
                {
                    SetPrps(ref c, cid, iova, bytes);
                    if (!_queue.Submit(cid, ref c, isAsync: true, 0))
                        return _controller.Failure;
                    break;
                }
                _queue.Poll(int.MaxValue); // full: make room
            }
            await Task.Yield();
        }
        while (true)
        {
            lock (_queue.Gate)
            {
                _queue.Poll(int.MaxValue);
                if (_queue.TryTakeResult(cid, out var status, out _))
                    return status;
            }
            await Task.Yield();
        }
    }

    /// <summary>Deletes the queues on the controller (if it is still there) and gives their memory back.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        lock (_queue.Gate)
            _queue.FailAll(NvmeStatus.ControllerRemoved);
        _controller.DeleteQueuePair(_queue);
    }
}
