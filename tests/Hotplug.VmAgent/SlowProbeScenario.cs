using System.Collections.Concurrent;
using Hotplug;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>slow-probe BDF PROBE_MS WAIT_MS uevents|no-uevents</c>: a removal that comes while the device is being
/// attached (issue 10, item 3). Hotplug handling is on; the uevent monitor only with <c>uevents</c> (without it
/// the library's own removal sources must tell: the uio hang-up, the vfio request). The edu device is attached with <c>HotplugAdd</c> through <see cref="SlowEduDriver"/>, whose
/// Probe reads BAR0, sleeps PROBE_MS and reads BAR0 again; the host does <c>device_del</c> while it sleeps
/// (the "probe-start" line tells it when). Reports:
/// <list type="bullet">
/// <item><c>probe-start</c> / <c>probe-end</c>: BAR0 0x00 before and after the sleep (guest clock in "ms");</item>
/// <item><c>attached</c> (HotplugAdd returned) or <c>attach-failed</c> (it threw a HotplugException);</item>
/// <item>every device event (<c>event</c>); after an attach, up to WAIT_MS for a REMOVE of the device:
///   <c>removed</c> with <c>after_attach_ms</c> and then <c>detached</c>, or <c>no-remove</c>;</item>
/// <item><c>summary</c>, then <c>exit</c> (rc 0 whatever the library did: the host judges it).</item>
/// </list>
/// The driver accepts the device whatever BAR0 reads after the sleep: noticing the removal is the
/// library's job, not the driver's.
/// </summary>
internal static class SlowProbeScenario
{
    public static int Run(string bdf, int probeMs, int waitMs, string monitor)
    {
        if (monitor is not ("uevents" or "no-uevents"))
        {
            Report.Error($"slow-probe: say uevents or no-uevents, not {monitor}");
            return 2;
        }
        var driver = new SlowEduDriver(probeMs);
        using var eal = PciEal.Create(new PciBusOptions { AllowList = [bdf] });
        eal.Pci().RegisterDriver(driver);
        eal.EnableHotplugHandling();
        if (monitor == "uevents")
            eal.StartDeviceEventMonitor();
        var events = new BlockingCollection<DeviceEvent>();
        using var reg = eal.DeviceEvents.Register(null, e =>
        {
            Report.Event(e);
            if (e.DeviceName == bdf) events.Add(e);
        });
        eal.Scan();
        Report.Emit("slow-probe-ready", w => { w.WriteString("dev", bdf); w.WriteNumber("probe_ms", probeMs); w.WriteString("monitor", monitor); });

        PciDevice? dev = null;
        double callMs = Report.NowMs();
        try
        {
            dev = (PciDevice)eal.HotplugAdd("pci", bdf);
        }
        catch (HotplugException e)
        {
            Report.Emit("attach-failed", w =>
            {
                w.WriteString("dev", bdf);
                w.WriteString("exception", e.GetType().Name);
                w.WriteString("error", e.Message);
                w.WriteNumber("call_ms", callMs);
                Resources.Write(w);
            });
        }

        bool removed = false;
        if (dev is not null)
        {
            double attachedMs = Report.NowMs();
            var bar = dev.Bar(0);
            uint id = bar.Read32(0);
            Report.Emit("attached", w =>
            {
                w.WriteString("dev", dev.Name);
                w.WriteString("kind", bar.Kind.ToString());
                w.WriteString("id", $"0x{id:x8}");
                w.WriteString("state", dev.State.ToString());
                w.WriteNumber("call_ms", callMs);
                Resources.Write(w);
            });
            // The device went away during Probe: a REMOVE must follow the attach (or the attach must fail).
            var deadline = DateTime.UtcNow.AddMilliseconds(waitMs);
            while (!removed && events.TryTake(out var e, Left(deadline)))
                removed = e.Type == DeviceEventType.Remove;
            if (removed)
            {
                Report.Emit("removed", w =>
                {
                    w.WriteNumber("after_attach_ms", Report.NowMs() - attachedMs);
                    w.WriteString("final", $"0x{bar.Read32(0):x8}");
                    w.WriteBoolean("remapped", bar.IsRemapped);
                    w.WriteString("state", dev.State.ToString());
                });
            }
            else
            {
                Report.Emit("no-remove", w =>
                {
                    w.WriteNumber("waited_ms", Report.NowMs() - attachedMs);
                    w.WriteString("final", $"0x{bar.Read32(0):x8}");
                    w.WriteString("state", dev.State.ToString());
                });
            }
            eal.HotplugRemove("pci", bdf);
            Report.Emit("detached", Resources.Write);
        }
        else
        {
            // A failed attach may still be followed by a REMOVE (or nothing): collect what comes in a second.
            var deadline = DateTime.UtcNow.AddMilliseconds(1000);
            while (events.TryTake(out _, Left(deadline))) { }
        }
        Report.Emit("summary", w =>
        {
            w.WriteBoolean("attached", dev is not null);
            w.WriteBoolean("removed", removed);
            w.WriteNumber("callback_failures", eal.DeviceEvents.CallbackFailures);
        });
        return 0;
    }

    private static TimeSpan Left(DateTime deadline)
    {
        var left = deadline - DateTime.UtcNow;
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }
}

/// <summary>An edu driver with a slow Probe: reads BAR0, sleeps, reads BAR0 again, and accepts the device.</summary>
internal sealed class SlowEduDriver(int probeMs) : PciDriver
{
    private static readonly PciId[] EduIds = [new(0x1234, 0x11e8)];

    public override IReadOnlyList<PciId> Ids => EduIds;

    public override string Name => "edu-slow";

    public override bool Probe(PciDevice device)
    {
        var bar = device.Bar(0);
        uint before = bar.Read32(0);
        Report.Emit("probe-start", w =>
        {
            w.WriteString("dev", device.Name);
            w.WriteString("kind", bar.Kind.ToString());
            w.WriteString("id", $"0x{before:x8}");
        });
        Thread.Sleep(probeMs);
        uint after = bar.Read32(0);
        Report.Emit("probe-end", w =>
        {
            w.WriteString("dev", device.Name);
            w.WriteString("id", $"0x{after:x8}");
            w.WriteBoolean("remapped", bar.IsRemapped);
        });
        return true;
    }

    public override void Remove(PciDevice device) => Report.Emit("driver-remove", w => w.WriteString("dev", device.Name));
}
