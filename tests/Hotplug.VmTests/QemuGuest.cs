using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Hotplug.VmTests;

/// <summary>Options of one guest boot.</summary>
public sealed record QemuGuestOptions
{
    /// <summary>Names the run folder (<c>.vm-cache/runs/NAME-N</c>) that keeps the logs.</summary>
    public string Name { get; init; } = "guest";
    public int MemoryMb { get; init; } = 512;
    public int Cpus { get; init; } = 1;
    /// <summary>Plug the edu device (id <c>dut</c>) into root port <c>rp1</c> at boot (guest BDF 0000:01:00.0).</summary>
    public bool WithEdu { get; init; } = true;
    public string ExtraKernelArgs { get; init; } = "";
    public IReadOnlyList<string> ExtraQemuArgs { get; init; } = Array.Empty<string>();
    /// <summary>Time from process start to the guest's ready line (TCG boots in ~2-3 s here).</summary>
    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromSeconds(90);
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>The result of one shell command run in the guest.</summary>
public sealed record GuestCommandResult(int Id, string Command, int ExitCode, string Output, double GuestStartMs, double GuestEndMs, double HostSentMs, double HostDoneMs)
{
    public override string ToString() => $"#{Id} `{Command}` -> rc {ExitCode}\n{Output}";
}

/// <summary>
/// One QEMU guest (q35, TCG by default, emulated intel-iommu, the edu device on a pcie-root-port), started
/// and ended by PID. ttyS0 is the kernel console, logged to <see cref="ConsoleLogPath"/>; the virtio-serial
/// port hp.ctl is the control channel of guest/init.sh (commands in, JSON lines out, see <see cref="Channel"/>); QMP is
/// <see cref="Qmp"/>. Every operation has a timeout; failures carry the console log, and
/// <see cref="Dispose"/> kills the process and writes all logs to the test output.
/// </summary>
public sealed class QemuGuest : IDisposable
{
    /// <summary>Guest PCI address of the edu device plugged at rp1.</summary>
    public const string EduBdf = "0000:01:00.0";
    public const string EduSysfs = "/sys/bus/pci/devices/" + EduBdf;

    private static readonly ConcurrentDictionary<int, Process> Live = new();
    private static int _runCounter;

    private readonly Process _process;
    private readonly ITestOutputHelper? _output;
    private readonly StringBuilder _qemuStderr = new();
    private readonly Socket _ctl;
    private readonly Task _ctlReader;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly QemuGuestOptions _options;
    private int _nextCommand;
    private bool _disposed;

    public int Pid { get; }
    public string RunDir { get; }
    public string ConsoleLogPath => Path.Combine(RunDir, "console.log");
    public JsonLineLog Channel { get; } = new();
    public QmpClient Qmp { get; private set; } = null!;
    public TimeSpan BootTime { get; private set; }
    public string KernelVersion { get; private set; } = "";
    public double StartHostMs { get; }

    /// <summary>"tcg" unless HP_VM_ACCEL says otherwise ("kvm" only where a probe boot proved it works).</summary>
    public static string Accel => Environment.GetEnvironmentVariable("HP_VM_ACCEL") is { Length: > 0 } a ? a : "tcg";

    private QemuGuest(Process process, string runDir, Socket ctl, ITestOutputHelper? output, QemuGuestOptions options, double startMs)
    {
        _process = process;
        Pid = process.Id;
        RunDir = runDir;
        _ctl = ctl;
        _output = output;
        _options = options;
        StartHostMs = startMs;
        _ctlReader = Task.Run(ReadChannel);
    }

    public static async Task<QemuGuest> StartAsync(GuestImage image, ITestOutputHelper? output, QemuGuestOptions? options = null)
    {
        options ??= new QemuGuestOptions();
        string runDir = Path.Combine(GuestImage.CacheDir, "runs", $"{options.Name}-{Environment.ProcessId}-{Interlocked.Increment(ref _runCounter)}");
        Directory.CreateDirectory(runDir);
        string ctlPath = Path.Combine(runDir, "ctl.sock");
        string qmpPath = Path.Combine(runDir, "qmp.sock");
        if (qmpPath.Length > 100)
            throw new GuestException($"run folder path too long for a unix socket: {runDir} (set HP_VM_CACHE to a shorter folder)");

        var psi = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = runDir,
        };
        var args = new List<string>
        {
            "-accel", Accel, "-cpu", Accel == "kvm" ? "host" : "max",
            "-M", "q35", "-m", $"{options.MemoryMb}M", "-smp", options.Cpus.ToString(),
            "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
            "-kernel", image.Kernel, "-initrd", image.Initrd,
            // no_timer_check: on a busy shared host TCG made the 6.1 kernel panic at boot ("timer doesn't work through
            // Interrupt-remapped IO-APIC": its check of the timer interrupt timed out); every guest skips the check.
            "-append", $"console=ttyS0 intel_iommu=on panic=-1 no_timer_check {options.ExtraKernelArgs}".Trim(),
            "-qmp", $"unix:{qmpPath},server=on,wait=off",
            "-chardev", $"file,id=con,path={Path.Combine(runDir, "console.log")}", "-serial", "chardev:con",
            // The control channel: a virtio-serial port (flow-controlled, no tty line discipline).
            "-device", "virtio-serial-pci,id=vser,bus=pcie.0,addr=0x4",
            "-chardev", $"socket,id=ctl,path={ctlPath},server=on,wait=on",
            "-device", "virtserialport,bus=vser.0,chardev=ctl,name=hp.ctl",
            // The IOMMU must come before the PCI devices (vfio needs it: Debian kernels have no no-IOMMU mode).
            "-device", "intel-iommu,intremap=on",
            "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x10",
        };
        if (options.WithEdu) args.AddRange(new[] { "-device", "edu,id=dut,bus=rp1" });
        args.AddRange(options.ExtraQemuArgs);
        foreach (var a in args) psi.ArgumentList.Add(a);
        File.WriteAllText(Path.Combine(runDir, "qemu.cmdline"), "qemu-system-x86_64 " + string.Join(' ', args.Select(a => a.Contains(' ') ? $"'{a}'" : a)) + "\n");

        double t0 = JsonLineLog.NowMs();
        var process = Process.Start(psi) ?? throw new GuestException("cannot start qemu-system-x86_64");
        Live[process.Id] = process;
        File.WriteAllText(Path.Combine(runDir, "qemu.pid"), process.Id.ToString());

        QemuGuest? guest = null;
        try
        {
            // wait=on: QEMU does not run the guest until the harness is connected, so no line is lost.
            var ctl = await ConnectUnixAsync(ctlPath, TimeSpan.FromSeconds(20), process).ConfigureAwait(false);
            guest = new QemuGuest(process, runDir, ctl, output, options, t0);
            guest.CaptureQemuOutput();
            guest.Qmp = await QmpClient.ConnectAsync(qmpPath, TimeSpan.FromSeconds(20)).ConfigureAwait(false);
            var ready = await guest.Channel.WaitAsync(m => m.Str("t") is "ready" or "fatal", options.BootTimeout, what: "the guest's ready line").ConfigureAwait(false);
            if (ready.Str("t") == "fatal")
                throw new GuestException($"guest init failed: {ready.Raw}");
            guest.BootTime = TimeSpan.FromMilliseconds(ready.HostMs - t0);
            guest.KernelVersion = ready.Str("kernel") ?? "";
            output?.WriteLine($"[Vm] guest {runDir} (pid {guest.Pid}, accel {Accel}) ready in {guest.BootTime.TotalSeconds:F2} s, kernel {guest.KernelVersion}");
            return guest;
        }
        catch (Exception e)
        {
            string logs = guest?.DescribeState() ?? DescribeEarly(process, runDir);
            guest?.Dispose();
            if (guest == null) KillProcess(process);
            throw new GuestException($"guest boot failed: {e.Message}\n{logs}", e);
        }
    }

    /// <summary>Runs one shell command line in the guest (via sh -c) and returns its exit code and output.</summary>
    public async Task<GuestCommandResult> RunAsync(string command, TimeSpan? timeout = null)
    {
        if (command.Contains('\n') || command.Contains('\r'))
            throw new ArgumentException("a guest command is a single line", nameof(command));
        int id = Interlocked.Increment(ref _nextCommand);
        int from = Channel.Count;
        double sent = JsonLineLog.NowMs();
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try { await _ctl.SendAsync(Encoding.UTF8.GetBytes($"{id} {command}\n"), SocketFlags.None).ConfigureAwait(false); }
        finally { _sendLock.Release(); }
        JsonMessage done;
        try
        {
            done = await Channel.WaitAsync(
                m => m.Str("t") == "done" && m.Json.TryGetProperty("id", out var i) && i.GetInt32() == id,
                timeout ?? _options.CommandTimeout, from, $"guest command #{id} `{command}`").ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or GuestException)
        {
            throw Fail($"guest command `{command}` did not complete: {e.Message}", e);
        }
        string output = Encoding.UTF8.GetString(Convert.FromBase64String(done.Json.GetProperty("out64").GetString() ?? ""));
        return new GuestCommandResult(id, command, done.Json.GetProperty("rc").GetInt32(), output,
            done.Json.GetProperty("ms0").GetDouble(), done.Json.GetProperty("ms1").GetDouble(), sent, done.HostMs);
    }

    /// <summary>Like <see cref="RunAsync"/>, but a non-zero exit code is a failure (with the logs).</summary>
    public async Task<GuestCommandResult> RunOkAsync(string command, TimeSpan? timeout = null)
    {
        var r = await RunAsync(command, timeout).ConfigureAwait(false);
        if (r.ExitCode != 0)
            throw Fail($"guest command failed: {r}");
        return r;
    }

    /// <summary>Waits for a JSON line on the control channel (from a helper or the agent).</summary>
    public async Task<JsonMessage> WaitForAsync(Func<JsonMessage, bool> match, TimeSpan timeout, int from, string what)
    {
        try
        {
            return await Channel.WaitAsync(match, timeout, from, what).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or GuestException)
        {
            throw Fail(e.Message, e);
        }
    }

    /// <summary>Wraps a failure with the logs of this guest.</summary>
    public GuestException Fail(string message, Exception? inner = null) => new($"{message}\n{DescribeState()}", inner);

    public string ConsoleLog => File.Exists(ConsoleLogPath) ? ReadShared(ConsoleLogPath) : "(no console log)";

    /// <summary>All that explains this guest's state: QEMU's own output, the console log and the control channel.</summary>
    public string DescribeState(int consoleTailLines = int.MaxValue)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"----- guest {RunDir} (pid {Pid}, {(_process.HasExited ? $"exited {_process.ExitCode}" : "running")}) -----");
        lock (_qemuStderr) if (_qemuStderr.Length > 0) sb.AppendLine("----- qemu stderr -----").Append(_qemuStderr);
        string console = ConsoleLog;
        string[] lines = console.Split('\n');
        if (lines.Length > consoleTailLines)
            console = $"(last {consoleTailLines} of {lines.Length} lines; all in {ConsoleLogPath})\n" + string.Join('\n', lines[^consoleTailLines..]);
        sb.AppendLine("----- console (ttyS0) -----").AppendLine(console);
        sb.AppendLine("----- control channel (virtio-serial hp.ctl) -----").AppendLine(Channel.Text);
        sb.AppendLine("----- QMP -----").AppendLine(Qmp?.Log.Text ?? "(not connected)");
        return sb.ToString();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        KillProcess(_process);
        try { _ctl.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _ctl.Dispose();
        Qmp?.Dispose();
        try { _ctlReader.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        string state = DescribeState(consoleTailLines: 15); // a failure's message already holds the whole console
        try
        {
            File.WriteAllText(Path.Combine(RunDir, "channel.log"), Channel.Text);
            File.WriteAllText(Path.Combine(RunDir, "qmp.log"), Qmp?.Log.Text ?? "");
        }
        catch (IOException) { }
        try { _output?.WriteLine(state); } catch (InvalidOperationException) { }
        _sendLock.Dispose();
    }

    /// <summary>Kills every guest this process started (by PID).</summary>
    public static void KillAll()
    {
        foreach (var p in Live.Values) KillProcess(p);
    }

    /// <summary>
    /// Kills QEMU processes left by an earlier, crashed test run: each run folder holds qemu.pid, and a PID
    /// is killed only when its command line still names that run folder. Then removes old run folders.
    /// </summary>
    public static void ReapStaleRuns()
    {
        string runs = Path.Combine(GuestImage.CacheDir, "runs");
        if (!Directory.Exists(runs)) return;
        foreach (var dir in Directory.GetDirectories(runs))
        {
            string pidFile = Path.Combine(dir, "qemu.pid");
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid))
            {
                try
                {
                    string cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
                    if (cmdline.Contains(dir, StringComparison.Ordinal) && cmdline.Contains("qemu-system", StringComparison.Ordinal))
                    {
                        using var p = Process.GetProcessById(pid);
                        p.Kill();
                        p.WaitForExit(5000);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException) { }
            }
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static void KillProcess(Process p)
    {
        try
        {
            if (!p.HasExited)
            {
                p.Kill();
                p.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException) { }
        Live.TryRemove(p.Id, out _);
    }

    private void CaptureQemuOutput()
    {
        // Dedicated threads: on Unix, async reads of a pipe block a thread-pool thread each, and two of
        // them starve the small pool of a 2-core machine (seen as ~1 s stalls of every other callback).
        StartPipeReader(_process.StandardError, "qemu-stderr");
        StartPipeReader(_process.StandardOutput, "qemu-stdout");
        _process.EnableRaisingEvents = true;
        _process.Exited += (_, _) => Channel.Close($"QEMU (pid {Pid}) exited with code {_process.ExitCode}");
        if (_process.HasExited) Channel.Close($"QEMU (pid {Pid}) exited with code {_process.ExitCode}");
    }

    private void StartPipeReader(StreamReader reader, string name)
    {
        var t = new Thread(() =>
        {
            try
            {
                string? l;
                while ((l = reader.ReadLine()) != null)
                    lock (_qemuStderr) _qemuStderr.AppendLine(l);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        }) { IsBackground = true, Name = name };
        t.Start();
    }

    private async Task ReadChannel()
    {
        var buffer = new byte[8192];
        var line = new List<byte>(256);
        try
        {
            while (true)
            {
                int n = await _ctl.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (n == 0) break;
                for (int i = 0; i < n; i++)
                {
                    byte b = buffer[i];
                    if (b == (byte)'\n')
                    {
                        Channel.AddLine(Encoding.UTF8.GetString(line.ToArray()).TrimEnd('\r'));
                        line.Clear();
                    }
                    else line.Add(b);
                }
            }
            Channel.Close("control channel closed by QEMU");
        }
        catch (Exception e)
        {
            Channel.Close($"control channel read failed: {e.Message}");
        }
    }

    private static async Task<Socket> ConnectUnixAsync(string path, TimeSpan timeout, Process process)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await s.ConnectAsync(new UnixDomainSocketEndPoint(path)).ConfigureAwait(false);
                return s;
            }
            catch (SocketException)
            {
                s.Dispose();
                if (process.HasExited) throw new GuestException($"QEMU exited with code {process.ExitCode} before opening {path}");
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"QEMU did not open {path} within {timeout}");
                await Task.Delay(20).ConfigureAwait(false);
            }
        }
    }

    private static string DescribeEarly(Process p, string runDir)
    {
        string err = "";
        try { if (p.HasExited) err = p.StandardError.ReadToEnd(); } catch (InvalidOperationException) { }
        string console = Path.Combine(runDir, "console.log");
        return $"----- qemu (pid {p.Id}) stderr -----\n{err}\n----- console -----\n{(File.Exists(console) ? ReadShared(console) : "(none)")}";
    }

    private static string ReadShared(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var r = new StreamReader(fs);
        return r.ReadToEnd();
    }
}
