using System.Diagnostics;
using Hotplug;
using Hotplug.Uevents;
using Hotplug.Pci;
using Hotplug.Testing;
using Hotplug.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Stress;

/// <summary>
/// A SIGBUS record belongs to the mapping that faulted, not to whatever is mapped at its address when the
/// event thread reads it. Eight data-path threads poll a device's BAR when it is pulled. The uio hang-up
/// usually wakes the event thread first; a reader that faults just then pushes its record after epoll_wait
/// returned, and the event loop runs the REMOVE callbacks before it looks at the SIGBUS eventfd again, so
/// the record is read after them. By then the app has detached the dead device and attached another one
/// with a BAR of the same size, which the kernel maps at the address just freed. A late record must not
/// remap that healthy device, mark it Removed or raise a REMOVE for it.
/// </summary>
[Trait("Category", "Stress")]
public class LateSigbusRecordTests(ITestOutputHelper output)
{
    private const int Tries = 1500;
    private const int Readers = 8;
    private const ulong BarSize = 64 * 1024; // a page per reader and then some; the same for both devices
    private const string PulledAddress = "0000:01:00.0";
    private const string HealthyAddress = "0000:02:00.0";
    private const uint HealthyId = 0x020000ed;

    [Fact]
    public void A_late_sigbus_record_never_removes_a_device_attached_inside_the_remove_callback() =>
        Run(attachInsideCallback: true);

    /// <summary>
    /// The callback only wakes the app's thread, which detaches and attaches while the event thread is still
    /// busy with the other REMOVE subscribers (here one that takes 2 ms, like a logger that flushes): the
    /// records that came in meanwhile are read after that.
    /// </summary>
    [Fact]
    public void A_late_sigbus_record_never_removes_a_device_attached_by_the_app_thread_after_the_remove() =>
        Run(attachInsideCallback: false);

    private void Run(bool attachInsideCallback)
    {
        using var sim = CreateSimulator();
        using var loggers = XunitLoggerFactory.Create(output, LogLevel.Error);
        using var eal = PciEal.Create(sim.CreateOptions(), null, loggers);
        using var dataPath = new DataPath(Readers);
        eal.Pci().RegisterDriver(new SimulatedDriver("test-driver"));
        Try? current = null;
        eal.SigbusFaultHandled += f => Volatile.Read(ref current)!.Faults.Add(f);
        eal.DeviceEvents.Register(null, e =>
        {
            var t = Volatile.Read(ref current)!;
            t.Events.Add(e);
            if (e.Type != DeviceEventType.Remove || e.DeviceName != PulledAddress || t.RemoveSeen.IsSet)
                return;
            try
            {
                if (attachInsideCallback)
                    t.Healthy = StopDetachAndAttachHealthy(eal, dataPath);
            }
            catch (Exception ex)
            {
                t.CallbackError = ex;
            }
            t.RemoveSeen.Set();
        });
        if (!attachInsideCallback)
        {
            eal.DeviceEvents.Register(null, e =>
            {
                if (e.Type == DeviceEventType.Remove)
                    Thread.Sleep(2);
            });
        }
        eal.EnableHotplugHandling();
        eal.Scan();

        var failures = new List<string>();
        int sameAddress = 0, records = 0, lateRecords = 0;
        var clock = Stopwatch.StartNew();
        for (int n = 1; n <= Tries; n++)
        {
            using var pulledSim = sim.AddDevice(PulledAddress, 0x1234, 0x11e8, [BarSize]);
            using var healthySim = sim.AddDevice(HealthyAddress, 0x1234, 0x11e8, [BarSize]);
            healthySim.WriteRegister32(0, 0, HealthyId);
            var pulled = (PciDevice)eal.HotplugAdd("pci", PulledAddress);
            var t = new Try(pulled.Bar(0).Pointer);
            Volatile.Write(ref current, t);
            dataPath.Start(pulled.Bar(0));

            pulledSim.Remove(); // surprise removal under eight running readers

            Assert.True(t.RemoveSeen.Wait(TimeSpan.FromSeconds(10)), $"try {n}: no REMOVE for the pulled device");
            if (t.CallbackError is { } error)
                throw new InvalidOperationException($"try {n}: the REMOVE callback failed", error);
            if (!attachInsideCallback)
                t.Healthy = StopDetachAndAttachHealthy(eal, dataPath);
            Assert.True(eal.FlushEventThread()); // the readers are stopped, every record is in the ring: drain it
            Assert.True(eal.FlushEventThread()); // and deliver what that published

            var healthy = t.Healthy!;
            var bar = healthy.Bar(0);
            var wrong = new List<string>();
            if (healthy.State != DeviceState.Probed)
                wrong.Add($"state {healthy.State}");
            if (bar.IsRemapped)
                wrong.Add("BAR remapped to dead memory");
            if (bar.Read32(0) is var id && id != HealthyId)
                wrong.Add($"reads 0x{id:x8}");
            if (t.Events.Any(e => e.DeviceName == HealthyAddress && e.Type == DeviceEventType.Remove))
                wrong.Add("got a REMOVE");
            if (wrong.Count > 0)
                failures.Add($"try {n}: {string.Join(", ", wrong)}. {t.Describe(bar.Pointer)}");
            sameAddress += bar.Pointer == t.PulledBarAddress ? 1 : 0;
            records += t.Faults.Count;
            lateRecords += t.Faults.Count(f => f.DeviceName != PulledAddress);

            eal.HotplugRemove("pci", HealthyAddress);
        }
        clock.Stop();

        output.WriteLine($"{Tries} tries in {clock.Elapsed.TotalSeconds:F1} s; the healthy BAR was mapped where the pulled one had been in " +
            $"{sameAddress}; {records} SIGBUS records, {lateRecords} of them not charged to the pulled device; " +
            $"{failures.Count} tries hurt the healthy device");
        Assert.True(failures.Count == 0, $"{failures.Count} of {Tries} tries hurt the healthy device:\n{string.Join('\n', failures.Take(10))}");
    }

    /// <summary>The app's reaction to the REMOVE: stop its data path, detach the dead device, attach another one.</summary>
    private static PciDevice StopDetachAndAttachHealthy(Eal eal, DataPath dataPath)
    {
        dataPath.Stop();
        eal.HotplugRemove("pci", PulledAddress);
        return (PciDevice)eal.HotplugAdd("pci", HealthyAddress);
    }

    /// <summary>
    /// On tmpfs when there is one: every try writes and deletes a fake sysfs tree (on this VM's ext4 /tmp that
    /// alone took ~11 ms a try, and the slower pull made late records rarer).
    /// </summary>
    private static SimulatedPciBus CreateSimulator() =>
        Directory.Exists("/dev/shm")
            ? SimulatedPciBus.Create(Directory.CreateDirectory($"/dev/shm/hotplug-stress-{Guid.NewGuid():N}").FullName)
            : SimulatedPciBus.Create();

    /// <summary>What one try saw; written on the event thread, read by the test after a flush.</summary>
    private sealed class Try(nint pulledBarAddress)
    {
        public nint PulledBarAddress { get; } = pulledBarAddress;
        public ManualResetEventSlim RemoveSeen { get; } = new();
        public List<DeviceEvent> Events { get; } = [];
        public List<SigbusFault> Faults { get; } = [];
        public PciDevice? Healthy { get; set; }
        public Exception? CallbackError { get; set; }

        public string Describe(nint healthyBar) =>
            $"The pulled BAR was at 0x{PulledBarAddress:x}, the healthy one at 0x{healthyBar:x}. Events: {string.Join(", ", Events)}. " +
            $"SIGBUS records: {string.Join(", ", Faults.Select(f => $"0x{f.Address:x}{(f.FirstForRange ? " (remapped it)" : "")} -> {f.DeviceName ?? "nobody"}"))}";
    }

    /// <summary>
    /// The app's data path: threads that poll one BAR, each its own page, yielding between reads, from
    /// <see cref="Start"/> until <see cref="Stop"/> returns (after which none of them touches the BAR). The
    /// threads live for the whole test and are started and stopped without locks: waking eight threads
    /// through a semaphore next to spinning ones took tens of milliseconds.
    /// </summary>
    private sealed class DataPath : IDisposable
    {
        private readonly List<Thread> _threads = [];
        private MappedBar? _bar;
        private int _generation, _running, _stopped;
        private volatile bool _stop = true;
        private volatile bool _disposed;

        public DataPath(int threads)
        {
            for (int i = 0; i < threads; i++)
            {
                ulong offset = (ulong)i * 4096;
                var thread = new Thread(() => Poll(offset)) { IsBackground = true, Name = $"data path {i}" };
                _threads.Add(thread);
                thread.Start();
            }
        }

        public void Start(MappedBar bar)
        {
            _bar = bar;
            _stop = false;
            Volatile.Write(ref _running, 0);
            Volatile.Write(ref _stopped, 0);
            Interlocked.Increment(ref _generation);
            Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref _running) == _threads.Count, TimeSpan.FromSeconds(10)), "the data path did not start");
        }

        public void Stop()
        {
            _stop = true;
            Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref _stopped) == _threads.Count, TimeSpan.FromSeconds(10)), "the data path did not stop");
        }

        private void Poll(ulong offset)
        {
            int seen = 0;
            while (true)
            {
                while (Volatile.Read(ref _generation) == seen)
                    Thread.Sleep(1);
                seen = Volatile.Read(ref _generation);
                if (_disposed)
                    return;
                var bar = _bar!;
                _ = bar.Read32(offset);
                Interlocked.Increment(ref _running);
                while (!_stop)
                {
                    _ = bar.Read32(offset);
                    Thread.Yield();
                }
                Interlocked.Increment(ref _stopped);
            }
        }

        public void Dispose()
        {
            if (!_stop)
                Stop();
            _disposed = true;
            Interlocked.Increment(ref _generation);
            foreach (var t in _threads)
                t.Join();
        }
    }
}
