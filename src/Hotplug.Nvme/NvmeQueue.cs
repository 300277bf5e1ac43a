using System.Diagnostics;
using System.Runtime.CompilerServices;
using Hotplug.Dma;

namespace Hotplug.Nvme;

/// <summary>
/// One submission / completion queue pair in DMA memory (admin or I/O): command ids, the SQ tail and the CQ head
/// with its phase, doorbells at CAP.DSTRD, one PRP list page per command id. Every member runs under
/// <see cref="Gate"/> (a queue pair belongs to one caller thread, as in SPDK; the lock only orders it against
/// <see cref="FailAll"/> from the removal path).
/// </summary>
internal sealed unsafe class NvmeQueue : IDisposable
{
    private readonly NvmeController _controller;
    private readonly DmaBuffer _sq, _cq, _prpLists;
    private readonly ulong _sqDoorbell, _cqDoorbell;
    private readonly int[] _freeCids;
    private int _freeCount;
    private readonly ulong[] _tags;
    private readonly bool[] _async, _busy, _done;
    private readonly NvmeStatus[] _status;
    private readonly uint[] _dw0;
    private int _sqTail, _cqHead, _outstanding;
    private bool _phase = true;
    private long _lastProgress;
    private bool _dead;

    public NvmeQueue(NvmeController controller, ushort id, int depth)
    {
        _controller = controller;
        Id = id;
        Depth = depth;
        var dma = controller.Dma;
        _sq = dma.Allocate((ulong)(depth * NvmeRegisters.SqEntrySize), NvmeRegisters.PageSize);
        _cq = dma.Allocate((ulong)(depth * NvmeRegisters.CqEntrySize), NvmeRegisters.PageSize);
        int cids = depth - 1; // one SQ slot stays empty: tail never catches the head
        _prpLists = dma.Allocate((ulong)cids * NvmeRegisters.PageSize, NvmeRegisters.PageSize);
        _sq.AsSpan().Clear();
        _cq.AsSpan().Clear();
        int stride = controller.DoorbellStride;
        _sqDoorbell = NvmeRegisters.Doorbells + (ulong)(2 * id * stride);
        _cqDoorbell = NvmeRegisters.Doorbells + (ulong)((2 * id + 1) * stride);
        _freeCids = new int[cids];
        for (int i = 0; i < cids; i++)
            _freeCids[i] = cids - 1 - i;
        _freeCount = cids;
        _tags = new ulong[cids];
        _async = new bool[cids];
        _busy = new bool[cids];
        _done = new bool[cids];
        _status = new NvmeStatus[cids];
        _dw0 = new uint[cids];
    }

    public ushort Id { get; }

    public int Depth { get; }

    public Lock Gate { get; } = new();

    public ulong SqIova => _sq.Iova;

    public ulong CqIova => _cq.Iova;

    /// <summary>Commands sent and not yet completed.</summary>
    public int Outstanding => _outstanding;

    /// <summary>Called for every completed batch command: its tag and status (under the gate).</summary>
    public Action<ulong, NvmeStatus>? OnBatchCompletion { get; set; }

    /// <summary>A free command id, or -1.</summary>
    public int TryTakeCid() => _freeCount == 0 ? -1 : _freeCids[--_freeCount];

    /// <summary>The PRP list page of a command id.</summary>
    public (nint Pointer, ulong Iova) PrpList(int cid) =>
        (_prpLists.Pointer + cid * NvmeRegisters.PageSize, _prpLists.Iova + (ulong)(cid * NvmeRegisters.PageSize));

    /// <summary>Writes the command into the SQ and rings the tail doorbell. False (nothing sent, the id freed) if the controller is gone.</summary>
    public bool Submit(int cid, ref NvmeCommand command, bool isAsync, ulong tag)
    {
        if (_dead || _controller.IsRemoved)
        {
            Release(cid);
            return false;
        }
        command.Dw0 = (command.Dw0 & 0xFFFF) | ((uint)cid << 16);
        _tags[cid] = tag;
        _async[cid] = isAsync;
        _done[cid] = false;
        _busy[cid] = true;
        *(NvmeCommand*)(_sq.Pointer + _sqTail * NvmeRegisters.SqEntrySize) = command;
        if (++_sqTail == Depth)
            _sqTail = 0;
        if (_outstanding++ == 0)
            _lastProgress = Stopwatch.GetTimestamp();
        Thread.MemoryBarrier(); // the entry is in memory before the device hears of it
        _controller.Bar.Write32(_sqDoorbell, (uint)_sqTail);
        return true;
    }

    /// <summary>True (with its result) once the async command of <paramref name="cid"/> has completed; the id is then free.</summary>
    public bool TryTakeResult(int cid, out NvmeStatus status, out uint dw0)
    {
        status = _status[cid];
        dw0 = _dw0[cid];
        if (!_done[cid])
            return false;
        Release(cid);
        return true;
    }

    /// <summary>Reaps up to <paramref name="max"/> completions; checks the controller when nothing came for a while.</summary>
    public int Poll(int max)
    {
        int n = 0;
        if (_controller.HasFailed)
        {
            if (!_dead)
                FailAll(_controller.Failure);
            return 0;
        }
        while (n < max)
        {
            var entry = (uint*)(_cq.Pointer + _cqHead * NvmeRegisters.CqEntrySize);
            uint dw3 = Volatile.Read(ref entry[3]);
            if (dw3 == NvmeRegisters.AllOnes)
            {
                _controller.MarkFailed(NvmeStatus.ControllerRemoved); // a completion from dead memory is never taken as success
                FailAll(NvmeStatus.ControllerRemoved);
                return n;
            }
            if (((dw3 >> 16) & 1) != (_phase ? 1u : 0u))
                break;
            int cid = (int)(dw3 & 0xFFFF);
            if (++_cqHead == Depth)
            {
                _cqHead = 0;
                _phase = !_phase;
            }
            n++;
            if ((uint)cid < (uint)_busy.Length && _busy[cid])
                Complete(cid, NvmeStatus.FromCompletion(dw3), entry[0]);
        }
        if (n > 0)
        {
            _controller.Bar.Write32(_cqDoorbell, (uint)_cqHead);
            _lastProgress = Stopwatch.GetTimestamp();
        }
        else if (_outstanding > 0 && Stopwatch.GetElapsedTime(_lastProgress) > TimeSpan.FromMilliseconds(1))
        {
            _lastProgress = Stopwatch.GetTimestamp();
            _controller.CheckAlive();
            if (_controller.HasFailed)
                FailAll(_controller.Failure);
        }
        return n;
    }

    /// <summary>Completes every outstanding command with <paramref name="status"/> at once; nothing more is sent.</summary>
    public void FailAll(NvmeStatus status)
    {
        _dead = true;
        for (int cid = 0; cid < _busy.Length; cid++)
            if (_busy[cid])
                Complete(cid, status, 0);
    }

    private void Complete(int cid, NvmeStatus status, uint dw0)
    {
        _busy[cid] = false;
        _outstanding--;
        if (_async[cid])
        {
            _status[cid] = status;
            _dw0[cid] = dw0;
            _done[cid] = true; // the waiter takes the result and frees the id
            return;
        }
        ulong tag = _tags[cid];
        Release(cid);
        OnBatchCompletion?.Invoke(tag, status);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Release(int cid)
    {
        _done[cid] = false;
        _freeCids[_freeCount++] = cid;
    }

    public void Dispose()
    {
        _sq.Dispose();
        _cq.Dispose();
        _prpLists.Dispose();
    }
}
