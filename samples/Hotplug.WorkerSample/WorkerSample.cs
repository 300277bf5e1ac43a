using Hotplug.Hosting;
using Hotplug.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hotplug.WorkerSample;

/// <summary>The sample's host: Hotplug with a PCI driver and a data path, on a real device or on a simulated one.</summary>
public static class WorkerSample
{
    /// <summary>The address the simulated device gets.</summary>
    public const string SimulatedAddress = "0000:01:00.0";

    /// <summary>The value of <c>--device ADDRESS</c>, or null.</summary>
    public static string? DeviceArgument(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        int i = Array.IndexOf(args, "--device");
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>
    /// A host builder for the sample. With <paramref name="device"/>, the real device at that address (allow-listed,
    /// re-attached by itself when it comes back, bound to vfio-pci); otherwise an edu-like device on
    /// <paramref name="simulator"/>, which must then be given.
    /// </summary>
    public static HostApplicationBuilder CreateBuilder(string[] args, string? device, SimulatedPciBus? simulator)
    {
        var builder = Host.CreateApplicationBuilder(args);
        if (device is null)
        {
            ArgumentNullException.ThrowIfNull(simulator);
            var sim = simulator.AddDevice(SimulatedAddress, EduDriver.Vendor, EduDriver.DeviceId, [1UL << 20]);
            sim.WriteRegister32(0, 0, EduDriver.IdentificationValue);
        }
        builder.Services.AddSingleton<Timeline>();
        builder.Services.AddHotplug(o =>
        {
            if (device is null)
            {
                o.Pci.SysfsRoot = simulator!.SysfsRoot;
                o.Pci.DevRoot = simulator.DevRoot;
            }
            else
            {
                o.Pci.AllowList = [device];
                o.Pci.AutoAttach = true;
                o.Pci.BindOnAdd = "vfio-pci";
            }
        });
        builder.Services.AddPciDriver<EduDriver>();
        builder.Services.AddHotplugDataPath<PollingDataPath>();
        return builder;
    }
}
