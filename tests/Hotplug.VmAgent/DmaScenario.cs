using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Dma;
using Hotplug.Interrupts;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>dma BDF CYCLES irq|intx|poll</c>: a driver on the public API that gives QEMU's edu device DMA memory, programs its DMA
/// engine, waits for its interrupt, survives <c>device_del</c> with a DMA and an interrupt wait in flight, and
/// works again at the SAME device addresses after <c>device_add</c> (issue 12). Reports:
/// <list type="bullet">
/// <item><c>dma-ok</c> (round, iovas, bytes compared, interrupt result) after each verified round trip
///   RAM → edu → RAM, completion by interrupt (vfio: MSI; uio: the uio interrupt);</item>
/// <item><c>dma-armed</c>: a DMA with its completion interrupt is in flight and a waiter waits — the host pulls
///   the device now; then <c>wait-result</c> (DeviceRemoved, or Fired if the DMA beat the removal), the REMOVE
///   event, <c>detached</c> with what the process holds;</item>
/// <item>after the ADD and the bind: the re-attach and a round trip at the same IOVAs, CYCLES times; <c>summary</c>.</item>
/// </list>
/// </summary>
internal static class DmaScenario
{
    private const ulong DmaSrc = 0x80, DmaDst = 0x88, DmaCount = 0x90, DmaCmd = 0x98, IrqStatus = 0x24, IrqAck = 0x64;
    private const ulong EduBuffer = 0x40000;
    private const uint CmdStart = 1, CmdToRam = 2, CmdIrq = 4, DmaIrqBit = 0x100;
    private const int Bytes = 4088; // QEMU 7.2's edu aborts the VM on a transfer that ends exactly at 0x41000

    public static int Run(string bdf, int cycles, string completion)
    {
        bool useIrq = completion is "irq" or "intx";
        bool intx = completion == "intx";
        using var session = new AgentSession(bdf, new EduDriver());
        var (eal, pci, events) = (session.Eal, session.Pci, session.Events);
        var dev = (PciDevice)eal.HotplugAdd("pci", bdf);
        var dma = pci.DmaFor(dev); // turns bus mastering on; the allocator outlives the device
        using var toDevice = dma.Allocate(4096);
        using var fromDevice = dma.Allocate(4096);
        var iovas = (toDevice.Iova, fromDevice.Iova);
        Report.Emit("dma-memory", w => { w.WriteString("to_iova", $"0x{toDevice.Iova:x}"); w.WriteString("from_iova", $"0x{fromDevice.Iova:x}"); });

        for (int round = 0; round <= cycles; round++)
        {
            var irq = useIrq ? Interrupts(dev, intx) : null;
            if (!RoundTrip(dev, irq, toDevice, fromDevice, round))
                return 1;
            if (round == cycles)
                break;

            // A DMA and an interrupt wait in flight when the device goes.
            Program(dev, toDevice.Iova, EduBuffer, 0);
            dev.Bar(0).Write32(DmaCmd, CmdStart | (useIrq ? CmdIrq : 0));
            var wait = irq?.WaitAsync(CancellationToken.None).AsTask();
            Report.Emit("dma-armed", w => w.WriteNumber("round", round));
            string result = wait is null ? PollUntilGone(dev) : wait.Wait(TimeSpan.FromSeconds(10)) ? wait.Result.Status.ToString() : "hang";
            Report.Emit("wait-result", w => { w.WriteNumber("round", round); w.WriteString("result", result); });
            if (!WaitFor(events, DeviceEventType.Remove, out var removed))
                return Fail("no REMOVE");
            eal.HotplugRemove(removed);
            Report.Emit("detached", w => { w.WriteNumber("round", round); Resources.Write(w); });
            if (!WaitFor(events, DeviceEventType.Bound, out _))
                return Fail("no BOUND after the device came back");
            dev = (PciDevice)eal.HotplugAdd("pci", bdf);
            var again = pci.DmaFor(dev);
            if (!ReferenceEquals(again, dma) || toDevice.Iova != iovas.Item1 || fromDevice.Iova != iovas.Item2)
                return Fail("the re-attached device got another allocator or other IOVAs");
            Report.Emit("reattached", w => { w.WriteNumber("round", round); Resources.Write(w); });
        }
        Report.Emit("summary", w => w.WriteNumber("cycles", cycles));
        eal.HotplugRemove("pci", bdf);
        return 0;
    }

    private static InterruptVector Interrupts(PciDevice dev, bool intx) =>
        dev.EnableInterrupts(dev.Info.KernelDriver != PciKernelDriver.VfioPci ? InterruptKind.Uio : intx ? InterruptKind.Intx : InterruptKind.Msi, 1)[0];

    /// <summary>RAM → edu, edu → RAM, each completed by the device's interrupt; the bytes must come back.</summary>
    private static bool RoundTrip(PciDevice dev, InterruptVector? irq, DmaBuffer toDevice, DmaBuffer fromDevice, int round)
    {
        var pattern = toDevice.AsSpan()[..Bytes];
        for (int i = 0; i < Bytes; i++)
            pattern[i] = (byte)(i * 7 + round);
        fromDevice.AsSpan().Clear();
        double t0 = Report.NowMs();
        string second = "";
        if (!Transfer(dev, irq, toDevice.Iova, EduBuffer, 0, out string first) || !Transfer(dev, irq, EduBuffer, fromDevice.Iova, CmdToRam, out second))
        {
            Report.Error($"round {round}: the DMA did not complete: {first} {second}");
            return false;
        }
        int mismatches = 0;
        var back = fromDevice.AsSpan()[..Bytes];
        for (int i = 0; i < Bytes; i++)
            mismatches += back[i] == pattern[i] ? 0 : 1;
        Report.Emit(mismatches == 0 ? "dma-ok" : "dma-bad", w =>
        {
            w.WriteNumber("round", round);
            w.WriteNumber("bytes", Bytes);
            w.WriteNumber("mismatches", mismatches);
            w.WriteString("irq", $"{irq?.Kind.ToString() ?? "polled"}:{first}/{second}");
            w.WriteNumber("round_trip_ms", Report.NowMs() - t0);
        });
        return mismatches == 0;
    }

    private static bool Transfer(PciDevice dev, InterruptVector? irq, ulong src, ulong dst, uint direction, out string how)
    {
        Program(dev, src, dst, direction);
        if (irq is null)
            return Poll(dev, direction, out how);
        var wait = irq.WaitAsync(CancellationToken.None).AsTask();
        dev.Bar(0).Write32(DmaCmd, CmdStart | direction | CmdIrq);
        if (!wait.Wait(TimeSpan.FromSeconds(10)))
        {
            how = $"no interrupt (cmd 0x{dev.Bar(0).Read32(DmaCmd):x}, status 0x{dev.Bar(0).Read32(IrqStatus):x})";
            return false;
        }
        how = wait.Result.ToString();
        dev.Bar(0).Write32(IrqAck, DmaIrqBit); // the device first, then the interrupt is re-armed
        irq.Acknowledge();
        return (dev.Bar(0).Read32(DmaCmd) & CmdStart) == 0;
    }

    /// <summary>Completion by polling the command register (edu clears bit 0 when the transfer is done).</summary>
    private static bool Poll(PciDevice dev, uint direction, out string how)
    {
        dev.Bar(0).Write32(DmaCmd, CmdStart | direction);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        uint cmd;
        while (((cmd = dev.Bar(0).Read32(DmaCmd)) & CmdStart) != 0 && cmd != 0xFFFFFFFF && DateTime.UtcNow < deadline)
            Thread.Sleep(1);
        how = cmd == 0xFFFFFFFF ? "device gone" : (cmd & CmdStart) == 0 ? "polled" : $"stuck (cmd 0x{cmd:x})";
        return (cmd & CmdStart) == 0;
    }

    /// <summary>Without interrupts: the data path sees the removal as the BAR turning into dead memory (all-ones).</summary>
    private static string PollUntilGone(PciDevice dev)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (dev.Bar(0).Read32(0) == 0xFFFFFFFF)
                return "DeviceRemoved";
            Thread.Sleep(1);
        }
        return "hang";
    }

    private static void Program(PciDevice dev, ulong src, ulong dst, uint direction)
    {
        var bar = dev.Bar(0);
        bar.Write64(DmaSrc, src);
        bar.Write64(DmaDst, dst);
        bar.Write64(DmaCount, Bytes);
        _ = direction;
    }

    private static bool WaitFor(BlockingCollection<DeviceEvent> events, DeviceEventType type, out DeviceEvent found)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (events.TryTake(out var e, deadline - DateTime.UtcNow > TimeSpan.Zero ? deadline - DateTime.UtcNow : TimeSpan.Zero))
        {
            if (e.Type == type)
            {
                found = e;
                return true;
            }
        }
        found = null!;
        return false;
    }

    private static int Fail(string why)
    {
        Report.Error(why);
        return 1;
    }
}
