using Hotplug.Interop;
using Hotplug.Interrupts;
using static Tmds.Linux.LibC;

namespace Hotplug.Tests.Interrupts;

/// <summary>
/// An interrupt backend on real eventfds that the test writes (what a device's vfio trigger would do), so the
/// InterruptSet / EventLoop path under test is the production one. Records unmask and disable calls.
/// </summary>
internal sealed unsafe class TestInterruptBackend : InterruptBackend
{
    private readonly List<InterruptSource> _sources = [];

    /// <summary>When set, Disable throws like a backend whose device fd is closed.</summary>
    public bool DisableThrows { get; set; }

    /// <summary>When set, Enable hands out uio-style sources on pipes (4-byte cumulative counts) instead of eventfds.</summary>
    public bool UioStyle { get; set; }

    public List<int> Unmasked { get; } = [];

    public int DisableCalls { get; private set; }

    public InterruptKind? EnabledKind { get; private set; }

    private readonly List<int> _pipeWriters = [];

    public override IReadOnlyList<InterruptSource> Enable(InterruptKind kind, int count)
    {
        EnabledKind = kind;
        _sources.Clear();
        int* fds = stackalloc int[2];
        for (int i = 0; i < count; i++)
        {
            if (UioStyle)
            {
                Sys.CheckIo(pipe2(fds, O_CLOEXEC | O_NONBLOCK), "pipe2");
                _pipeWriters.Add(fds[1]);
                _sources.Add(new UioCounterSource(new SafeFdHandle(fds[0])));
            }
            else
            {
                _sources.Add(EventFdSource.Create());
            }
        }
        return _sources;
    }

    public override void Unmask(int index)
    {
        lock (Unmasked)
            Unmasked.Add(index);
    }

    public override void Disable()
    {
        DisableCalls++;
        if (DisableThrows)
            throw new ObjectDisposedException("device fd");
    }

    /// <summary>Fires vector <paramref name="index"/> <paramref name="times"/> times, as the kernel would (eventfd_signal).</summary>
    public void Fire(int index, ulong times = 1)
    {
        using var fd = _sources[index].Handle.Lease();
        Sys.CheckIo((long)write(fd.Fd, &times, 8), "write to the test eventfd");
    }

    /// <summary>Writes a uio-style cumulative count to the pipe behind vector <paramref name="index"/>.</summary>
    public void WriteUioCount(int index, uint cumulative) =>
        Sys.CheckIo((long)write(_pipeWriters[index], &cumulative, 4), "write to the test pipe");

    /// <summary>Closes the pipe writer behind vector <paramref name="index"/> (the reader sees EOF, like a uio node's EIO).</summary>
    public void HangUp(int index) => close(_pipeWriters[index]);

    public bool SourceClosed(int index) => _sources[index].Handle.IsClosed;
}
