using Hotplug.Testing;
using Hotplug.WorkerSample;
using Microsoft.Extensions.Hosting;

// dotnet run --project samples/Hotplug.WorkerSample                      a simulated edu device
// dotnet run --project samples/Hotplug.WorkerSample -- --device 0000:00:04.0   a real one (bound to vfio-pci / uio)
string? device = WorkerSample.DeviceArgument(args);
using var simulator = device is null ? SimulatedPciBus.Create() : null;
using var host = WorkerSample.CreateBuilder(args, device, simulator).Build();
await host.RunAsync();
