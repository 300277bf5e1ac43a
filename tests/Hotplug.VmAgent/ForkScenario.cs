using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Hotplug;
using Hotplug.Pci;

namespace Hotplug.VmAgent;

/// <summary>
/// <c>fork BDF MODE CHILD_MS WAIT_MS</c>: a child forked without exec while a vfio device is attached (issue 10,
/// item 4). Attaches edu (bound to vfio-pci) through Hotplug, then calls fork() itself (a raw fork, as an
/// app or a library it uses might). The child runs no runtime code: only direct libc calls without a GC
/// transition. By MODE it first lets go of part of what it inherited, then sleeps CHILD_MS and _exits:
/// <list type="bullet">
/// <item><c>keep</c>: nothing (it holds every inherited fd and the BAR mappings);</item>
/// <item><c>close-fds</c>: closes every fd above 2 (close_range), keeps the BAR mappings;</item>
/// <item><c>unmap</c>: unmaps the device's BAR mappings, keeps every fd (vfio device, group, container);</item>
/// <item><c>unmap-close-device</c>: unmaps the BARs and closes only the vfio device fd (keeps group and container);</item>
/// <item><c>close-fds-unmap</c>: both: the child holds nothing of the device (the control case).</item>
/// </list>
/// Reports <c>attached</c>, <c>forked</c> (what the child still holds, read from /proc/PID 300 ms after the
/// fork), the REMOVE, <c>detached</c> (this process holds nothing of the device then), <c>child-exited</c>, then
/// <c>summary</c> and <c>exit</c>. The host measures device_del → DEVICE_DELETED against the child's life.
/// </summary>
internal static unsafe class ForkScenario
{
    public static readonly string[] Modes = ["keep", "close-fds", "unmap", "unmap-close-device", "close-fds-unmap"];

    public static int Run(string bdf, string mode, int childMs, int waitMs)
    {
        if (!Modes.Contains(mode))
        {
            Report.Error($"unknown fork mode {mode} (one of {string.Join(", ", Modes)})");
            return 2;
        }
        var driver = new EduDriver();
        using var session = new AgentSession(bdf, driver);
        var (eal, events) = (session.Eal, session.Events);
        var dev = (PciDevice)eal.HotplugAdd("pci", bdf);
        var bar = dev.Bar(0);
        Report.Emit("attached", w =>
        {
            w.WriteString("dev", dev.Name);
            w.WriteString("kind", bar.Kind.ToString());
            w.WriteString("id", $"0x{bar.Read32(0):x8}");
            Resources.Write(w);
        });
        if (bar.Kind != BarMappingKind.Vfio)
        {
            Report.Error($"{bdf} is mapped through {bar.Kind}, not vfio");
            return 1;
        }

        // Everything the child needs, prepared before the fork: it must not allocate.
        bool unmap = mode is "unmap" or "unmap-close-device" or "close-fds-unmap";
        bool closeAll = mode is "close-fds" or "close-fds-unmap";
        int deviceFd = mode == "unmap-close-device" ? VfioDeviceFd() : -1;
        if (mode == "unmap-close-device" && deviceFd < 0)
        {
            Report.Error("no vfio device fd found in /proc/self/fd");
            return 1;
        }
        nint barAddress = bar.Pointer;
        nuint barLength = (nuint)bar.Length;
        var timeout = new Timespec { Seconds = childMs / 1000, Nanoseconds = childMs % 1000 * 1_000_000L };

        // Locals: the child does not even touch a static.
        var fork = Fork;
        var closeRange = CloseRange;
        var close = Close;
        var munmap = Munmap;
        var nanosleep = Nanosleep;
        var exit = Exit;
        double forkMs = Report.NowMs();
        int pid = fork();
        if (pid == 0)
        {
            // The child: no managed allocation, no runtime call, no GC transition.
            if (closeAll)
                closeRange(3, uint.MaxValue, 0);
            if (deviceFd >= 0)
                close(deviceFd);
            if (unmap)
                munmap(barAddress, barLength);
            while (nanosleep(&timeout, &timeout) != 0) { }
            exit(0);
        }
        if (pid < 0)
        {
            Report.Error("fork failed");
            return 1;
        }
        Thread.Sleep(300); // the child has done its part by then (it has a few syscalls to make)
        Report.Emit("forked", w =>
        {
            w.WriteNumber("pid", pid);
            w.WriteString("mode", mode);
            w.WriteNumber("fork_ms", forkMs);
            w.WriteNumber("child_ms", childMs);
            w.WriteNumber("device_fd", deviceFd);
            w.WriteString("bar", $"0x{barAddress:x}+0x{barLength:x}");
            Resources.Write(w, $"/proc/{pid}", "child_");
        });

        bool removed = false;
        var deadline = DateTime.UtcNow.AddMilliseconds(waitMs);
        while (!removed && events.TryTake(out var e, Left(deadline)))
            removed = e.Type == DeviceEventType.Remove;
        if (removed)
        {
            eal.HotplugRemove("pci", bdf);
            Report.Emit("detached", Resources.Write);
        }
        else
        {
            Report.Emit("no-remove", w => w.WriteNumber("waited_ms", waitMs));
        }

        int status = 0;
        int waited = WaitPid(pid, &status, 0);
        int exitStatus = status;
        Report.Emit("child-exited", w =>
        {
            w.WriteNumber("pid", waited);
            w.WriteNumber("status", exitStatus);
        });
        Report.Emit("summary", w =>
        {
            w.WriteBoolean("removed", removed);
            w.WriteNumber("callback_failures", eal.DeviceEvents.CallbackFailures);
        });
        return 0;
    }

    /// <summary>The fd of the vfio device (anon inode <c>[vfio-device]</c>), or -1.</summary>
    private static int VfioDeviceFd()
    {
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } t && t.Contains("vfio-device", StringComparison.Ordinal))
                    return int.Parse(Path.GetFileName(fd), System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (IOException) { }
        }
        return -1;
    }

    private static TimeSpan Left(DateTime deadline)
    {
        var left = deadline - DateTime.UtcNow;
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    // libc, resolved before the fork: a P/Invoke binds lazily (runtime code, locks) on its first call, and a
    // transition back from native code checks for a pending GC suspension; in the child only the forking
    // thread exists, so neither may happen there. Function pointers with SuppressGCTransition do neither.
    private static readonly nint Libc = NativeLibrary.Load("libc.so.6");
    private static readonly delegate* unmanaged[Cdecl, SuppressGCTransition]<int> Fork =
        (delegate* unmanaged[Cdecl, SuppressGCTransition]<int>)NativeLibrary.GetExport(Libc, "fork");
    private static readonly delegate* unmanaged[Cdecl, SuppressGCTransition]<uint, uint, int, int> CloseRange =
        (delegate* unmanaged[Cdecl, SuppressGCTransition]<uint, uint, int, int>)NativeLibrary.GetExport(Libc, "close_range");
    private static readonly delegate* unmanaged[Cdecl, SuppressGCTransition]<int, int> Close =
        (delegate* unmanaged[Cdecl, SuppressGCTransition]<int, int>)NativeLibrary.GetExport(Libc, "close");
    private static readonly delegate* unmanaged[Cdecl, SuppressGCTransition]<nint, nuint, int> Munmap =
        (delegate* unmanaged[Cdecl, SuppressGCTransition]<nint, nuint, int>)NativeLibrary.GetExport(Libc, "munmap");
    private static readonly delegate* unmanaged[Cdecl, SuppressGCTransition]<Timespec*, Timespec*, int> Nanosleep =
        (delegate* unmanaged[Cdecl, SuppressGCTransition]<Timespec*, Timespec*, int>)NativeLibrary.GetExport(Libc, "nanosleep");
    private static readonly delegate* unmanaged[Cdecl, SuppressGCTransition]<int, void> Exit =
        (delegate* unmanaged[Cdecl, SuppressGCTransition]<int, void>)NativeLibrary.GetExport(Libc, "_exit");

    [DllImport("libc.so.6", EntryPoint = "waitpid")]
    private static extern int WaitPid(int pid, int* status, int options);
}
