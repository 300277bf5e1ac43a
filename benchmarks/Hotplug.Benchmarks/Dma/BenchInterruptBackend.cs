using Hotplug.Interop;
using Hotplug.Interrupts;
using static Tmds.Linux.LibC;

namespace Hotplug.Benchmarks.Dma;

/// <summary>
/// An interrupt backend on real eventfds that the benchmark writes (what the kernel's eventfd_signal does for a
/// vfio MSI-X trigger), so the InterruptSet / EventLoop / InterruptVector path measured is the production one.
/// The same double as the tests' TestInterruptBackend, less the recording.
/// </summary>
internal sealed unsafe class BenchInterruptBackend : InterruptBackend
{
    private readonly List<InterruptSource> _sources = [];

    public override IReadOnlyList<InterruptSource> Enable(InterruptKind kind, int count)
    {
        _sources.Clear();
        for (int i = 0; i < count; i++)
            _sources.Add(EventFdSource.Create());
        return _sources;
    }

    public override void Unmask(int index)
    {
    }

    public override void Disable()
    {
    }

    /// <summary>Fires vector <paramref name="index"/> once: an 8-byte write of 1 to its eventfd.</summary>
    public void Fire(int index)
    {
        using var fd = _sources[index].Handle.Lease();
        ulong one = 1;
        Sys.CheckIo((long)write(fd.Fd, &one, 8), "write to the interrupt eventfd");
    }
}
