using Hotplug.Hosting;
using Hotplug.Testing;
using Hotplug.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hotplug.Tests.Hosting;

/// <summary>services.AddHotplug: options, validation, drivers from DI, start and stop order (issue 15, item 2).</summary>
public sealed class AddHotplugTests(ITestOutputHelper output)
{
    private const string A = "0000:01:00.0";

    [Fact]
    public async Task Invalid_options_fail_the_host_start_with_every_reason()
    {
        var builder = Builder();
        builder.Services.AddHotplug(o =>
        {
            o.Pci.AllowList = ["0000:01:ab.0"];
            o.Pci.BindOnAdd = "e1000e";
            o.UeventReceiveBufferBytes = 0;
            o.EventThreadCpus = [0, -3];
        });
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(e.Failures, f => f.Contains("0000:01:ab.0", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.Contains("BindOnAdd needs Pci.AutoAttach", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.Contains("e1000e", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.Contains("UeventReceiveBufferBytes", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.Contains("EventThreadCpus has CPU -3", StringComparison.Ordinal));
        Assert.Contains(new HotplugOptionsValidator().Validate(null, new HotplugOptions { Pci = { AutoAttach = true } }).Failures!,
            f => f.Contains("non-empty Pci.AllowList", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_driver_from_di_attaches_at_start_and_data_paths_stop_in_reverse_order_before_the_detach_even_if_one_throws()
    {
        using var sim = SimulatedPciBus.Create();
        using var dev = sim.AddDevice(A, 0x1234, 0x11e8, [4096]);
        var order = new List<string>();
        var driver = new SimulatedDriver("edu", new PciId(0x1234, 0x11e8)) { OnRemove = d => { lock (order) order.Add("detach " + d.Name); } };
        var builder = Builder();
        builder.Services.AddHotplug(o =>
        {
            o.Pci.SysfsRoot = sim.SysfsRoot;
            o.Pci.DevRoot = sim.DevRoot;
            o.StartMonitor = false;
        });
        builder.Services.AddPciDriver(driver);
        builder.Services.AddSingleton(order);
        builder.Services.AddHotplugDataPath<FirstPath>();
        builder.Services.AddHotplugDataPath<SecondPath>();
        using var host = builder.Build();
        var eal = host.Services.GetRequiredService<Eal>();

        await host.StartAsync();
        Assert.True(eal.HotplugHandlingEnabled);
        Assert.False(eal.DeviceEventMonitorRunning);
        Assert.Same(driver, eal.Pci().FindDevice(A)!.Driver);
        Assert.Same(host.Services.GetRequiredService<ILoggerFactory>(), eal.LoggerFactory);
        var device = await eal.WaitForDeviceAsync("pci", A, TimeSpan.Zero).WaitAsync(TimeSpan.FromSeconds(10));

        await host.StopAsync();

        lock (order)
            Assert.Equal(["stop second", "stop first", "detach " + A], order);
        Assert.Null(device.Driver);
        Assert.False(eal.HotplugHandlingEnabled);
    }

    private HostApplicationBuilder Builder()
    {
        var builder = Host.CreateApplicationBuilder([]);
        builder.Logging.ClearProviders().AddProvider(new TestLoggerProvider(output));
        return builder;
    }

    private sealed class FirstPath(List<string> order) : IHotplugDataPath
    {
        public Task StopAsync(CancellationToken cancellationToken)
        {
            lock (order)
                order.Add("stop first");
            return Task.CompletedTask;
        }
    }

    private sealed class SecondPath(List<string> order) : IHotplugDataPath
    {
        public Task StopAsync(CancellationToken cancellationToken)
        {
            lock (order)
                order.Add("stop second");
            throw new InvalidOperationException("a data path that fails to stop");
        }
    }
}
