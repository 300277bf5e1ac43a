using System.Diagnostics;
using Hotplug;
using Tmds.Linux;

namespace Hotplug.Tests.Sigbus;

/// <summary>Every SIGBUS that is not ours reaches the handler that was there before (the .NET runtime's).</summary>
public class ChainingTests(ITestOutputHelper output)
{
    [Fact]
    public void A_sigbus_outside_every_bar_still_kills_the_process_like_without_hotplug()
    {
        var with = RunProbe("unregistered-sigbus");
        var without = RunProbe("unregistered-sigbus", "--no-handling");

        Assert.Contains("about-to-fault", with.Stdout);
        Assert.DoesNotContain("survived", with.Stdout);
        Assert.NotEqual(0, with.ExitCode);
        Assert.True(with.ExitCode > 128, $"expected death by a signal, exit code {with.ExitCode}");
        Assert.Equal(without.ExitCode, with.ExitCode); // the runtime decides, as if we were not there
    }

    [Fact]
    public void A_null_dereference_in_a_child_with_handling_enabled_is_still_a_NullReferenceException()
    {
        var r = RunProbe("null-deref");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("null-reference-exception", r.Stdout);
    }

    [Fact]
    public void A_null_dereference_here_with_handling_enabled_throws_NullReferenceException()
    {
        using var eal = new Eal();
        eal.EnableHotplugHandling();
        object? o = Environment.GetEnvironmentVariable("HOTPLUG_SURELY_UNSET_VARIABLE");
        Assert.Throws<NullReferenceException>(() => o!.GetHashCode());
    }

    [Fact]
    public unsafe void Disable_restores_the_runtimes_handler_and_enable_is_reference_counted()
    {
        nint before = CurrentSigbusHandler();
        using var eal = new Eal();
        eal.EnableHotplugHandling();
        nint ours = CurrentSigbusHandler();
        Assert.NotEqual(before, ours);
        eal.EnableHotplugHandling();
        Assert.True(eal.DisableHotplugHandling());
        Assert.Equal(ours, CurrentSigbusHandler()); // one reference left
        Assert.True(eal.HotplugHandlingEnabled);
        Assert.True(eal.DisableHotplugHandling());
        Assert.Equal(before, CurrentSigbusHandler());
        Assert.False(eal.HotplugHandlingEnabled);
        Assert.False(eal.DisableHotplugHandling()); // idempotent
    }

    [Fact]
    public void Disable_leaves_a_handler_installed_over_ours_in_place()
    {
        var r = RunProbe("installed-over");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("theirs-kept", r.Stdout);
    }

    [Fact]
    public void Only_one_eal_at_a_time_may_own_the_process_wide_handler()
    {
        using var a = new Eal();
        using var b = new Eal();
        a.EnableHotplugHandling();
        Assert.Throws<InvalidOperationException>(b.EnableHotplugHandling);
        a.DisableHotplugHandling();
        b.EnableHotplugHandling();
        Assert.True(b.HotplugHandlingEnabled);
    }

    private static unsafe nint CurrentSigbusHandler()
    {
        byte* buf = stackalloc byte[512]; // larger than glibc's struct sigaction; the handler is its first field
        Assert.Equal(0, LibC.sigaction(LibC.SIGBUS, null, (sigaction*)buf));
        return *(nint*)buf;
    }

    private (int ExitCode, string Stdout, string Stderr) RunProbe(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "Hotplug.CrashProbe.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        psi.Environment["DOTNET_EnableCrashReport"] = "0";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("the crash probe hung (a foreign SIGBUS looping in the handler?)");
        }
        output.WriteLine($"probe {string.Join(' ', args)} → exit {p.ExitCode}\n{stdout.Result}\n{stderr.Result}");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
