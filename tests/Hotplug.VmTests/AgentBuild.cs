using System.Diagnostics;

namespace Hotplug.VmTests;

/// <summary>
/// Publishes the guest agent (tests/Hotplug.VmAgent) with NativeAOT and gathers what goes into the image:
/// the executable and the native libraries next to it (libhotplug_shim.so). build-image.sh adds the glibc
/// libraries they need (ldd). A failed publish (an AOT warning is an error) fails the tier.
/// </summary>
public static class AgentBuild
{
    public const string ExecutableName = "hotplug-vm-agent";

    /// <summary>Where the agent is in the guest.</summary>
    public const string GuestPath = "/agent/" + ExecutableName;

    public static string Project => Path.Combine(GuestImage.RepoRoot, "tests", "Hotplug.VmAgent", "Hotplug.VmAgent.csproj");

    /// <summary>Publishes and returns the folder to put into the image as /agent.</summary>
    public static string Publish(TimeSpan timeout)
    {
        string publishDir = Path.Combine(GuestImage.CacheDir, "agent-publish");
        string imageDir = Path.Combine(GuestImage.CacheDir, "agent");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "publish", Project, "-c", "Release", "-o", publishDir, "-nologo", "-v:q", "-p:DebugType=none" })
            psi.ArgumentList.Add(a);
        // A test run's own MSBuild variables must not leak into the nested build.
        psi.Environment.Remove("MSBuildExtensionsPath");
        psi.Environment.Remove("MSBuildSDKsPath");
        psi.Environment.Remove("MSBUILD_EXE_PATH");
        using var p = Process.Start(psi) ?? throw new GuestException("cannot start dotnet publish");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new GuestException($"dotnet publish of the agent did not finish within {timeout}");
        }
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new GuestException($"NativeAOT publish of the guest agent failed ({p.ExitCode}):\n{stdout.Result}\n{stderr.Result}");

        if (Directory.Exists(imageDir)) Directory.Delete(imageDir, recursive: true);
        Directory.CreateDirectory(imageDir);
        string exe = Path.Combine(publishDir, ExecutableName);
        if (!File.Exists(exe)) throw new GuestException($"the agent publish produced no {exe}");
        File.Copy(exe, Path.Combine(imageDir, ExecutableName));
        foreach (var so in Directory.GetFiles(publishDir, "*.so"))
            File.Copy(so, Path.Combine(imageDir, Path.GetFileName(so)));
        if (!File.Exists(Path.Combine(imageDir, "libhotplug_shim.so")))
            throw new GuestException($"the agent publish has no libhotplug_shim.so in {publishDir}");
        return imageDir;
    }
}
