using System.Buffers.Binary;
using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Uevents;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>sigbus BDF ROUNDS</c>: a real kernel SIGBUS on a vfio BAR mapping. Attaches edu (bound to vfio-pci) through
/// Hotplug, runs a data path thread on BAR0, then clears Memory Space Enable (bit 1) of the COMMAND
/// register through the vfio config region (<see cref="PciConfigSpace.Write"/>): vfio-pci zaps the BAR
/// mappings and the next access faults. Reports the fault, the device events, what the data path reads,
/// then detaches and attaches again (the device never left the bus; only its decode was off), ROUNDS times.
/// </summary>
internal static class SigbusScenario
{
    private const int Command = 0x04;
    private const ushort MemorySpaceEnable = 0x2;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    public static int Run(string bdf, int rounds)
    {
        var driver = new EduDriver();
        using var eal = PciEal.Create(new PciBusOptions { AllowList = [bdf] });
        var pci = eal.Pci();
        pci.RegisterDriver(driver);
        eal.EnableHotplugHandling();
        eal.StartDeviceEventMonitor();
        var events = new BlockingCollection<DeviceEvent>();
        var faults = new BlockingCollection<SigbusFault>();
        eal.SigbusFaultHandled += f =>
        {
            Report.Emit("sigbus", w =>
            {
                w.WriteString("dev", f.DeviceName);
                w.WriteString("addr", $"0x{f.Address:x}");
                w.WriteString("range", $"0x{f.RangeStart:x}");
                w.WriteBoolean("first", f.FirstForRange);
                w.WriteNumber("fault_ms", f.FaultNs / 1e6);
                w.WriteNumber("remapped_ms", f.RemappedNs / 1e6);
                w.WriteNumber("handled_ms", f.HandledNs / 1e6);
            });
            faults.Add(f);
        };
        using var reg = eal.DeviceEvents.Register(null, e =>
        {
            Report.Event(e);
            events.Add(e);
        });
        eal.Scan();
        eal.Probe();
        var dev = driver.Device;
        if (dev is null)
        {
            Report.Error($"{bdf} was not attached");
            return 1;
        }
        Report.Emit("attached", w =>
        {
            w.WriteString("dev", dev.Name);
            w.WriteString("kind", dev.Bar(0).Kind.ToString());
            w.WriteString("id", $"0x{dev.Bar(0).Read32(0):x8}");
            Resources.Write(w);
        });

        int faultsSeen = 0;
        Span<byte> cmd = stackalloc byte[2];
        for (int round = 1; round <= rounds; round++)
        {
            dev = driver.Device!;
            var bar = dev.Bar(0);
            var path = new EduDataPath(bar);
            Thread.Sleep(200);
            long readsBefore = path.Reads;

            dev.Config.Read(Command, cmd);
            ushort before = BinaryPrimitives.ReadUInt16LittleEndian(cmd);
            BinaryPrimitives.WriteUInt16LittleEndian(cmd, (ushort)(before & ~MemorySpaceEnable));
            long writeNs = BusHost.MonotonicNs();
            dev.Config.Write(Command, cmd);
            Report.Emit("mse-cleared", w =>
            {
                w.WriteNumber("round", round);
                w.WriteString("before", $"0x{before:x4}");
                w.WriteString("written", $"0x{before & ~MemorySpaceEnable:x4}");
                w.WriteNumber("write_ms", writeNs / 1e6);
                w.WriteNumber("reads_before", readsBefore);
            });

            bool gotFault = faults.TryTake(out var fault, Wait);
            if (gotFault) faultsSeen++;
            bool gotRemove = false;
            while (events.TryTake(out var e, Wait))
                if (e.DeviceName == bdf && e.Type == DeviceEventType.Remove) { gotRemove = true; break; }
            // Leave time for anything else (a second fault, a second REMOVE, a vfio request) to show up.
            Thread.Sleep(500);
            var result = path.Stop();
            uint final = bar.Read32(0);
            Report.Emit("datapath-stopped", w =>
            {
                w.WriteNumber("round", round);
                w.WriteNumber("reads", result.Reads);
                w.WriteNumber("dead_reads", result.DeadReads);
                w.WriteNumber("reads_after_write", result.Reads - readsBefore);
                w.WriteString("last", $"0x{result.Last:x8}");
                w.WriteString("final", $"0x{final:x8}");
                w.WriteBoolean("remapped", bar.IsRemapped);
                w.WriteString("state", dev.State.ToString());
                w.WriteBoolean("fault", gotFault);
                w.WriteBoolean("remove", gotRemove);
                if (gotFault) w.WriteNumber("write_to_fault_ms", (fault!.FaultNs - writeNs) / 1e6);
            });

            eal.HotplugRemove("pci", bdf);
            Report.Emit("detached", w => { w.WriteNumber("round", round); Resources.Write(w); });

            // The device is still on the bus. Attach it again as it is (vfio-pci disabled the function when
            // the library closed the device fd, and enables it again on the next open).
            if (!TryAttach(eal, driver, bdf, "reattach", round))
            {
                // Fall back: set Memory Space Enable again through sysfs config, then attach.
                WriteSysfsCommand(bdf, (ushort)(before | MemorySpaceEnable));
                if (!TryAttach(eal, driver, bdf, "reattach-after-sysfs", round))
                    return 1;
            }
        }
        // Wait for stragglers, then end (Dispose detaches).
        Thread.Sleep(300);
        Report.Emit("summary", w =>
        {
            w.WriteNumber("faults", faultsSeen + faults.Count);
            w.WriteNumber("callback_failures", eal.DeviceEvents.CallbackFailures);
        });
        return 0;
    }

    private static bool TryAttach(Eal eal, EduDriver driver, string bdf, string what, int round)
    {
        try
        {
            eal.HotplugAdd("pci", bdf);
        }
        catch (HotplugException e)
        {
            Report.Emit(what, w => { w.WriteNumber("round", round); w.WriteBoolean("ok", false); w.WriteString("error", e.Message); });
            return false;
        }
        var dev = driver.Device!;
        var bar = dev.Bar(0);
        Span<byte> cmd = stackalloc byte[2];
        dev.Config.Read(Command, cmd);
        ushort command = BinaryPrimitives.ReadUInt16LittleEndian(cmd);
        uint id = bar.Read32(0);
        bar.Write32(4, 0x12345678);
        uint inv = bar.Read32(4);
        Report.Emit(what, w =>
        {
            w.WriteNumber("round", round);
            w.WriteBoolean("ok", id == EduDriver.Identification);
            w.WriteString("id", $"0x{id:x8}");
            w.WriteString("inv", $"0x{inv:x8}");
            w.WriteString("command", $"0x{command:x4}");
            w.WriteBoolean("remapped", bar.IsRemapped);
            Resources.Write(w);
        });
        return id == EduDriver.Identification;
    }

    private static void WriteSysfsCommand(string bdf, ushort value)
    {
        using var config = new FileStream($"/sys/bus/pci/devices/{bdf}/config", FileMode.Open, FileAccess.ReadWrite);
        config.Position = Command;
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        config.Write(b);
        Report.Emit("sysfs-command", w => w.WriteString("written", $"0x{value:x4}"));
    }
}
