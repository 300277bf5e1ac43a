using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using Hotplug.Loop;
using Microsoft.Extensions.Logging;

namespace Hotplug;

/// <summary>
/// Compiles the removal path when hotplug handling is enabled, so the first fault (the one that matters) does not
/// wait for the JIT: unprepared, the first REMOVE reached the callback ~15 ms after the fault (about 40 methods to
/// compile); prepared, it behaves like the later ones. The core prepares its own part and asks each bus to warm
/// its own (<see cref="IBus.WarmRemovalPath"/>). A no-op under NativeAOT, where everything is compiled ahead.
/// </summary>
internal static class RemovalPathWarmup
{
    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    /// <summary>
    /// Compiles the methods named <paramref name="names"/> of <paramref name="type"/> (<c>.ctor</c> for constructors).
    /// RuntimeHelpers.PrepareMethod silently skips virtual methods (interface implementations included): reach
    /// those through a non-virtual method, or call them for real where that has no effect. For buses' warm-ups.
    /// </summary>
    public static void Prepare(
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.NonPublicMethods |
            DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.NonPublicConstructors)]
        Type type, params string[] names)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (!RuntimeFeature.IsDynamicCodeCompiled)
            return;
        foreach (var m in type.GetMethods(Any))
        {
            if (Array.IndexOf(names, m.Name) >= 0 && !m.IsAbstract && !m.ContainsGenericParameters)
                RuntimeHelpers.PrepareMethod(m.MethodHandle);
        }
        if (Array.IndexOf(names, ConstructorInfo.ConstructorName) >= 0)
        {
            foreach (var c in type.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
                RuntimeHelpers.PrepareMethod(c.MethodHandle);
        }
    }

    /// <summary>Call without holding the gate (it waits for the event thread once).</summary>
    internal static void Run(RemovalCoordinator coordinator, BusRegistry buses, ILoggerFactory loggers, EventLoop loop)
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled)
            return;
        Prepare(typeof(RemovalCoordinator), nameof(RemovalCoordinator.OnFault), nameof(RemovalCoordinator.HandleRemoval),
            nameof(RemovalCoordinator.Publish), nameof(RemovalCoordinator.PostAfterCallbacks));
        Prepare(typeof(RemovalCoordinator.GatedWork), ConstructorInfo.ConstructorName, nameof(RemovalCoordinator.GatedWork.Run));
        Prepare(typeof(FaultOwners), nameof(FaultOwners.Find));
        Prepare(typeof(BusHost), nameof(BusHost.ReportRemoval));
        Prepare(typeof(FaultChannel), nameof(FaultChannel.Drain), nameof(FaultChannel.OnReadable));
        Prepare(typeof(DeviceEventDispatcher), nameof(DeviceEventDispatcher.Publish), "Dispatch");
        Prepare(typeof(DeviceEventDispatcher.PendingDispatch), ConstructorInfo.ConstructorName, nameof(DeviceEventDispatcher.PendingDispatch.Run));
        Prepare(typeof(HotplugMetrics), nameof(HotplugMetrics.Removal), nameof(HotplugMetrics.FaultRecovered), nameof(HotplugMetrics.CallbacksStarting));
        Prepare(typeof(EventLoop), "Remove", "RunPosted", "Wake");
        Prepare(typeof(RemovalPathLog), nameof(RemovalPathLog.DeviceEvent), nameof(RemovalPathLog.StaleFault));
        foreach (var bus in buses)
        {
            bus.WarmRemovalPath();
            _ = bus.HotUnplugHandler(new NotABusDevice(bus)); // not the bus's own device type: no effect
        }
        coordinator.Warm();
        _ = loggers.CreateLogger<Eal>().IsEnabled(LogLevel.Information); // the loggers' generic code
        var warm = new DeviceEvent("warmup", "warmup", DeviceEventType.Remove, DeviceEventSource.Sigbus, 0, 1);
        _ = warm.GetHashCode() + (int)warm.Type + (int)warm.Source + warm.DeviceName.Length + warm.BusName.Length + warm.TimestampNs
            + warm.Generation; // what callbacks read
        loop.Flush(TimeSpan.FromSeconds(5));
    }

    /// <summary>A device no bus owns: its buses' HotUnplugHandler must answer NotHandled without side effects.</summary>
    private sealed class NotABusDevice(IBus bus) : Device(bus, "\0warmup");
}
