using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using Hotplug.Pci;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hotplug.Hosting;

/// <summary>Registers Hotplug with a host: <c>services.AddHotplug(o => …).AddPciDriver&lt;MyDriver&gt;().AddHotplugDataPath&lt;MyDataPath&gt;()</c>.</summary>
public static class HotplugServiceCollectionExtensions
{
    /// <summary>
    /// Adds the <see cref="Eal"/> as a singleton (logging through the host's <see cref="ILoggerFactory"/>, metrics
    /// through its <see cref="IMeterFactory"/>, a PCI bus with the drivers registered with <see cref="AddPciDriver{TDriver}(IServiceCollection)"/>),
    /// <see cref="HotplugOptions"/> (validated when the host starts), and the hosted service that starts and stops it:
    /// on start it enables handling, starts the monitor and scans, in that order, then probes; on stop it stops the
    /// <see cref="IHotplugDataPath"/>s first, then detaches the devices and disposes the Eal. Calling it again only adds
    /// the <paramref name="configure"/>.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Sets the options (may be null: the defaults, a PCI bus on <c>/sys/bus/pci/devices</c>).</param>
    public static IServiceCollection AddHotplug(this IServiceCollection services, Action<HotplugOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<HotplugOptions>();
        if (configure is not null)
            builder.Configure(configure);
        if (services.Any(s => s.ServiceType == typeof(HotplugMarker)))
            return services;
        services.AddSingleton<HotplugMarker>();
        builder.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HotplugOptions>, HotplugOptionsValidator>());
        services.TryAddSingleton(CreateEal);
        services.AddHostedService<HotplugHostedService>();
        return services;
    }

    /// <summary>Registers a PCI driver (a singleton, built by the container) that the Eal's PCI bus gets when it is created.</summary>
    public static IServiceCollection AddPciDriver<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TDriver>(
        this IServiceCollection services) where TDriver : PciDriver
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<TDriver>();
        services.AddSingleton<PciDriver>(sp => sp.GetRequiredService<TDriver>());
        return services;
    }

    /// <summary>Registers a PCI driver instance that the Eal's PCI bus gets when it is created.</summary>
    public static IServiceCollection AddPciDriver(this IServiceCollection services, PciDriver driver)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(driver);
        services.AddSingleton(driver);
        return services;
    }

    /// <summary>
    /// Registers a data path (a singleton) that is stopped before any device is detached when the host stops. If
    /// <typeparamref name="T"/> is also an <see cref="IHostedService"/> (a <c>BackgroundService</c>), it is registered
    /// as a hosted service too, so the host starts it (after the Hotplug service when <see cref="AddHotplug"/> came first).
    /// </summary>
    public static IServiceCollection AddHotplugDataPath<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] T>(
        this IServiceCollection services) where T : class, IHotplugDataPath
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<T>();
        services.AddSingleton<IHotplugDataPath>(sp => sp.GetRequiredService<T>());
        if (typeof(IHostedService).IsAssignableFrom(typeof(T)))
            services.AddSingleton<IHostedService>(sp => (IHostedService)sp.GetRequiredService<T>());
        return services;
    }

    private static Eal CreateEal(IServiceProvider sp)
    {
        var options = sp.GetRequiredService<IOptions<HotplugOptions>>().Value;
        var eal = new Eal(new EalOptions
        {
            UeventReceiveBufferBytes = options.UeventReceiveBufferBytes,
            EventThreadCpus = options.EventThreadCpus.Count == 0 ? null : [.. options.EventThreadCpus],
            MeterFactory = sp.GetService<IMeterFactory>(),
        }, sp.GetService<ILoggerFactory>());
        try
        {
            if (options.Pci.Enabled)
            {
                var pci = eal.Buses.AddPci(options.Pci.ToBusOptions());
                foreach (var driver in sp.GetServices<PciDriver>())
                    pci.RegisterDriver(driver);
            }
            return eal;
        }
        catch
        {
            eal.Dispose();
            throw;
        }
    }

    /// <summary>Says AddHotplug ran (its services are added once).</summary>
    private sealed class HotplugMarker;
}
