using System.Diagnostics;

namespace Hotplug.VmTests;

/// <summary>
/// Built once per test run: checks the prerequisites and builds (or reuses) the guest image. Any missing
/// prerequisite throws here, which fails every test of the tier loudly; nothing is ever skipped.
/// </summary>
public sealed class VmFixture : IDisposable
{
    public VmFixture()
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitOperatingSystem)
            throw new GuestException("the Vm tier needs an x86-64 Linux host");
        if (!Environment.IsPrivilegedProcess)
            throw new GuestException("the Vm tier must run as root (it installs packages with apt-get and runs QEMU); CI runs as root");
        // Guests, QMP and the test itself all wait on thread-pool continuations; 2 cores give a pool of 2.
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(io, 16));
        QemuGuest.ReapStaleRuns();
        var sw = Stopwatch.StartNew();
        string agent = AgentBuild.Publish(TimeSpan.FromMinutes(15));
        AgentPublishTime = sw.Elapsed;
        sw.Restart();
        Image = GuestImage.Build(agent, timeout: TimeSpan.FromMinutes(20));
        Console.WriteLine($"[Vm] agent published (NativeAOT) in {AgentPublishTime.TotalSeconds:F1} s; guest image {Image.KernelVersion} ready in {sw.Elapsed.TotalSeconds:F1} s ({Image.Hash[..12]})");
    }

    public GuestImage Image { get; }

    public TimeSpan AgentPublishTime { get; }

    public void Dispose()
    {
        QemuGuest.KillAll();
        VmTimings.WriteFile();
    }
}

[CollectionDefinition("Vm")]
public sealed class VmCollection : ICollectionFixture<VmFixture>
{
}
