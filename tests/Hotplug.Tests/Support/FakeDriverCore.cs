using Hotplug.Testing;

namespace Hotplug.Tests.Support;

/// <summary>
/// The kernel's driver core for a simulated tree, on a thread: an address written to <c>drivers_probe</c> binds
/// that function to its <c>driver_override</c> (if that driver is loaded), an address written to
/// <c>drivers/NAME/unbind</c> unbinds it. Lets bind/unbind code see the <c>driver</c> link change as on a real system.
/// </summary>
public sealed class FakeDriverCore : IDisposable
{
    private readonly SimulatedPciBus _sim;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;

    public FakeDriverCore(SimulatedPciBus sim)
    {
        _sim = sim;
        _thread = new Thread(Loop) { IsBackground = true, Name = "fake-driver-core" };
        _thread.Start();
    }

    /// <summary>
    /// How many probes to ignore first, as the kernel ignores a probe of a function it has only just added (its
    /// ADD uevent comes before the driver core lets drivers match it).
    /// </summary>
    public int IgnoreFirstProbes { get; set; }

    /// <summary>Addresses written to drivers_probe, in order.</summary>
    public List<string> Probed { get; } = [];

    /// <summary>(driver, address) written to unbind files, in order.</summary>
    public List<(string Driver, string Address)> Unbound { get; } = [];

    private string ProbePath => Path.Combine(_sim.DriversRoot, "..", "drivers_probe");

    private void Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            if (Take(ProbePath) is { } probe)
            {
                int seen;
                lock (Probed) { Probed.Add(probe); seen = Probed.Count; }
                if (seen <= IgnoreFirstProbes)
                    continue;
                var dev = _sim.Devices.FirstOrDefault(d => d.Name == probe);
                string? wanted = dev is null ? null : File.ReadAllText(dev.AttributePath("driver_override")).Trim();
                if (dev is not null && dev.KernelDriver is null && wanted is { Length: > 0 } and not "(null)"
                    && Directory.Exists(Path.Combine(_sim.DriversRoot, wanted)))
                    dev.BindKernelDriver(wanted);
            }
            if (Directory.Exists(_sim.DriversRoot))
            {
                foreach (string driverDir in Directory.GetDirectories(_sim.DriversRoot))
                {
                    if (Take(Path.Combine(driverDir, "unbind")) is not { } address)
                        continue;
                    lock (Unbound) Unbound.Add((Path.GetFileName(driverDir), address));
                    _sim.Devices.FirstOrDefault(d => d.Name == address)?.UnbindKernelDriver();
                }
            }
            Thread.Sleep(2);
        }
    }

    /// <summary>The trimmed text of a write-only attribute file, emptied; null when absent or empty.</summary>
    private static string? Take(string path)
    {
        try
        {
            string text = File.ReadAllText(path).Trim();
            if (text.Length == 0)
                return null;
            File.WriteAllText(path, "");
            return text;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
    }
}
