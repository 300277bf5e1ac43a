using Hotplug.E1000;

namespace Hotplug.VmAgent;

/// <summary>
/// One member's port in the fail-safe scenario: the e1000 port, which member it is (0 primary, 1 standby), which
/// attachment of that member (1 the first, 2 after a re-add), what it received, and whether the group has retired
/// it (its REMOVE: the data path must get nothing from it after that).
/// </summary>
internal sealed class FailSafeNic
{
    private static readonly int[] Attachments = new int[2];
    private volatile bool _retired;

    public FailSafeNic(int index, E1000Port port)
    {
        Index = index;
        Port = port;
        Generation = Interlocked.Increment(ref Attachments[index]);
    }

    public int Index { get; }
    public int Generation { get; }
    public E1000Port Port { get; }
    public bool Retired => _retired;
    public double RetiredMs { get; private set; }

    /// <summary>Frames received through this port, and those of them whose number was new.</summary>
    public long Frames { get; set; }
    public long NewFrames { get; set; }

    /// <summary>The group's stop action (after the member's REMOVE): stop the port; bursts on it return 0 from now on.</summary>
    public void Retire()
    {
        RetiredMs = Report.NowMs();
        _retired = true;
        Port.Stop();
        Report.Emit("fs-retired", w =>
        {
            w.WriteString("dev", Port.Device.Name);
            w.WriteNumber("index", Index);
            w.WriteNumber("generation", Generation);
            w.WriteNumber("frames", Frames);
        });
    }
}
