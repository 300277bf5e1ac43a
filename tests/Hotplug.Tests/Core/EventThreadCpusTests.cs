using Hotplug;
using Hotplug.Pci;
using Hotplug.Testing;
using Hotplug.Tests.Support;

namespace Hotplug.Tests.Core;

/// <summary><see cref="EalOptions.EventThreadCpus"/>: the event thread runs where it is told, and a bad set is refused at once.</summary>
public class EventThreadCpusTests(ITestOutputHelper output)
{
    [Fact]
    public void The_event_thread_and_so_the_callbacks_run_only_on_the_CPUs_given()
    {
        int cpu = AllowedCpus().Last();
        using var sim = SimulatedPciBus.Create();
        sim.AddDevice("0000:01:00.0", 0x1234, 0x11e8, [1UL << 16]);
        using var loggers = XunitLoggerFactory.Create(output);
        using var eal = PciEal.Create(sim.CreateOptions(), new EalOptions { EventThreadCpus = [cpu] }, loggers);
        eal.Pci().RegisterDriver(new SimulatedDriver("test-driver", new PciId(0x1234, 0x11e8)));
        eal.HotplugAdd("pci", "0000:01:00.0");
        string? seen = null;

        using var _ = eal.DeviceEvents.Register(null, e => seen = CpusAllowed("/proc/thread-self/status"), reportPresent: true);
        eal.FlushEventThread();

        Assert.Equal(cpu.ToString(System.Globalization.CultureInfo.InvariantCulture), seen);
        Assert.Equal(AllowedCpus(), ParseList(CpusAllowed("/proc/thread-self/status"))); // the app's threads keep theirs
    }

    [Theory]
    [InlineData(new int[0], "is empty")]
    [InlineData(new[] { -1 }, "CPU -1")]
    [InlineData(new[] { 0, 4096 }, "CPU 4096")]
    public void A_list_that_cannot_be_a_CPU_set_is_refused_naming_the_option(int[] cpus, string why)
    {
        var ex = Assert.Throws<ArgumentException>(() => new Eal(new EalOptions { EventThreadCpus = cpus }));
        Assert.Contains("EventThreadCpus", ex.Message, StringComparison.Ordinal);
        Assert.Contains(why, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CPUs_the_process_may_not_use_are_refused_by_the_kernel_and_the_message_says_which_it_may()
    {
        int absent = ThreadAffinityLimit - 1; // no machine here has 1024 CPUs
        Assert.DoesNotContain(absent, AllowedCpus());

        var ex = Assert.Throws<ArgumentException>(() => new Eal(new EalOptions { EventThreadCpus = [absent] }));

        Assert.Contains("EventThreadCpus", ex.Message, StringComparison.Ordinal);
        Assert.Contains("errno 22", ex.Message, StringComparison.Ordinal); // EINVAL
        Assert.Contains($"now {string.Join(",", AllowedCpus())}", ex.Message, StringComparison.Ordinal);
    }

    private const int ThreadAffinityLimit = 1024;

    private static int[] AllowedCpus() => ParseList(CpusAllowed("/proc/self/status"));

    private static string CpusAllowed(string status) =>
        File.ReadLines(status).First(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal)).Split(':')[1].Trim();

    /// <summary>"0-2,5" → [0, 1, 2, 5].</summary>
    private static int[] ParseList(string list) =>
        [.. list.Split(',').SelectMany(part =>
        {
            var ends = part.Split('-').Select(int.Parse).ToArray();
            return Enumerable.Range(ends[0], ends[^1] - ends[0] + 1);
        })];
}
