using System.Runtime.CompilerServices;
using Hotplug.Events;
using Hotplug.Linux;
using Hotplug.Pci;

namespace Hotplug.Eal;

/// <summary>
/// Compiles the removal path when hotplug handling is enabled, so the first fault (the one that
/// matters) does not wait for the JIT: measured here, an unprepared first fault reached the callback
/// ~15 ms after the fault, a prepared one in tens of µs. The methods are also marked
/// AggressiveOptimization, so they are compiled once, fully optimised. A no-op under NativeAOT.
/// </summary>
internal static class RemovalPathWarmup
{
    public static void Run(Eal eal, FaultChannel faults)
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled)
            return;
        var dispatcher = eal.DeviceEvents;
        Prepare(new Action<NativeShim.Fault>(eal.OnFault));
        Prepare(new Action<Device, DeviceEventSource, long, bool>(eal.HandleRemoval));
        Prepare(new Action<IBus, string, DeviceEventType, DeviceEventSource, long>(eal.Publish));
        Prepare(new Action(faults.Drain));
        Prepare(new Action<DeviceEvent>(dispatcher.Publish));
        Prepare(dispatcher.DispatchMethod);
        foreach (var bus in eal.Buses)
        {
            if (bus is PciBus pci)
            {
                Prepare(new Func<Device, bool>(pci.HotUnplugHandler));
                Prepare(pci.SigbusHandlerMethod);
            }
        }
        Prepare(MappedBar.RemapMethod);
        // The records and interop stubs on the way.
        _ = new DeviceEvent("pci", "warmup", DeviceEventType.Remove, DeviceEventSource.Sigbus, 0).GetHashCode();
        _ = NativeShim.RangeIsRemapped(-1);
        _ = BusHost.MonotonicNs();
    }

    private static void Prepare(Delegate d) => RuntimeHelpers.PrepareMethod(d.Method.MethodHandle);
}
