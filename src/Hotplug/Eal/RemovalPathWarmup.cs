using System.Reflection;
using System.Runtime.CompilerServices;
using Hotplug.Events;
using Hotplug.Pci;

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
        Prepare(typeof(Eal), nameof(Eal.OnFault), nameof(Eal.HandleRemoval), nameof(Eal.Publish));
        Prepare(typeof(FaultChannel), nameof(FaultChannel.Drain));
        Prepare(typeof(DeviceEventDispatcher), nameof(DeviceEventDispatcher.Publish), "Dispatch");
        Prepare(typeof(PciBus), nameof(PciBus.HotUnplugHandler), nameof(PciBus.SigbusHandler));
        Prepare(typeof(MappedBar), nameof(MappedBar.Remap), nameof(MappedBar.Contains), nameof(MappedBar.IsRemapped));
        Prepare(typeof(EventLoop), "Remove", "RunPosted", "Wake");
        Prepare(typeof(UioWatch), nameof(UioWatch.Dispose));
        Prepare(typeof(RemovalPathLog), nameof(RemovalPathLog.DeviceEvent), nameof(RemovalPathLog.DeviceGone));
        // Run the lookups for real where that has no effect: the generic collection code on the way
        // (sorted device table, de-duplication table, posted-work queue) gets compiled too.
        foreach (var bus in eal.Buses)
            _ = bus.SigbusHandler(0, out _);
        eal.WarmPublishState();
        _ = new DeviceEvent("pci", "warmup", DeviceEventType.Remove, DeviceEventSource.Sigbus, 0).GetHashCode();
        loop.Flush(TimeSpan.FromSeconds(5));
    }

    private static void Prepare(
        [System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(
            System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicMethods | System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.NonPublicMethods)]
        Type type, params string[] names)
    {
        foreach (var m in type.GetMethods(Any))
        {
            if (Array.IndexOf(names, m.Name) >= 0 && !m.IsAbstract && !m.ContainsGenericParameters)
                RuntimeHelpers.PrepareMethod(m.MethodHandle);
        }
    }
}
