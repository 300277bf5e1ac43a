using System.Reflection;
using System.Runtime.CompilerServices;
using Hotplug.Events;
using Hotplug.Pci;
using Microsoft.Extensions.Logging;

namespace Hotplug.Eal;

/// <summary>
/// Compiles the removal path when hotplug handling is enabled, so the first fault (the one that
/// matters) does not wait for the JIT: unprepared, the first REMOVE reached the callback ~15 ms after
/// the fault here (about 40 methods to compile); prepared, it behaves like the later ones. The methods
/// are also marked AggressiveOptimization, so they are compiled once, fully optimised. A no-op under
/// NativeAOT, where everything is compiled ahead anyway.
/// </summary>
internal static class RemovalPathWarmup
{
    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    /// <summary>Call without holding the Eal's lock (it waits for the event thread once).</summary>
    public static void Run(Eal eal, EventLoop loop)
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled)
            return;
        // PrepareMethod compiles non-virtual methods only: it silently skips virtual ones (interface
        // implementations included), so those are either called for real below or reached through a
        // non-virtual method; lambdas on the path are named methods of named types for the same reason.
        Prepare(typeof(Eal), nameof(Eal.OnFault), nameof(Eal.HandleRemoval), nameof(Eal.Publish), nameof(Eal.AfterCallbacks), "PostAfterCallbacks");
        Prepare(typeof(Eal.GatedWork), ConstructorInfo.ConstructorName, nameof(Eal.GatedWork.Run));
        Prepare(typeof(BusHost), nameof(BusHost.AfterCallbacks), nameof(BusHost.ReportRemoval));
        Prepare(typeof(FaultChannel), nameof(FaultChannel.Drain), nameof(FaultChannel.OnReadable));
        Prepare(typeof(DeviceEventDispatcher), nameof(DeviceEventDispatcher.Publish), "Dispatch");
        Prepare(typeof(DeviceEventDispatcher.PendingDispatch), ConstructorInfo.ConstructorName, nameof(DeviceEventDispatcher.PendingDispatch.Run));
        Prepare(typeof(MappedBar), nameof(MappedBar.Remap), nameof(MappedBar.Contains), "get_IsRemapped");
        Prepare(typeof(EventLoop), "Remove", "RunPosted", "Wake");
        Prepare(typeof(UioWatch), nameof(UioWatch.Close));
        Prepare(typeof(RemovalPathLog), nameof(RemovalPathLog.DeviceEvent), nameof(RemovalPathLog.DeviceGone));
        // Run the bus ops for real where that has no effect: the virtual ones get compiled, and so does
        // the generic collection code on the way (sorted device table, de-duplication table, queue).
        foreach (var bus in eal.Buses)
        {
            _ = bus.SigbusHandler(0, out _);
            _ = bus.HotUnplugHandler(new NotABusDevice(bus)); // not the bus's own device type: false
        }
        eal.WarmPublishState();
        _ = eal.LoggerFactory.CreateLogger<PciBus>().IsEnabled(LogLevel.Information); // the loggers' generic code
        var warm = new DeviceEvent("pci", "warmup", DeviceEventType.Remove, DeviceEventSource.Sigbus, 0);
        _ = warm.GetHashCode() + (int)warm.Type + (int)warm.Source + warm.DeviceName.Length + warm.BusName.Length + warm.TimestampNs; // what callbacks read
        loop.Flush(TimeSpan.FromSeconds(5));
    }

    private static void Prepare(
        [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(
            System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicMethods | System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.NonPublicMethods |
            System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors | System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.NonPublicConstructors)]
        Type type, params string[] names)
    {
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

    /// <summary>A device no bus owns: its buses' HotUnplugHandler must answer false without side effects.</summary>
    private sealed class NotABusDevice(IBus bus) : Device(bus, "\0warmup");
}
