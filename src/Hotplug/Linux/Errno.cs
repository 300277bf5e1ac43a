using System.Runtime.InteropServices;

namespace Hotplug.Linux;

/// <summary>Turns errno values into exceptions with the system's message (Tmds.LibC sets SetLastError).</summary>
internal static class Errno
{
    /// <summary>errno of the last libc call made through Tmds.LibC on this thread.</summary>
    public static int Last => Marshal.GetLastPInvokeError();

    /// <summary>The system's text for <paramref name="errno"/>.</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>An <see cref="IOException"/> for a failed call; <see cref="Exception.HResult"/> is the errno.</summary>
    /// <param name="operation">What failed, for example <c>bind(AF_NETLINK)</c>.</param>
    /// <param name="error">The errno value; the current one if omitted.</param>
    public static IOException Exception(string operation, int? error = null)
    {
        int e = error ?? Last;
        return new IOException($"{operation} failed: {Describe(e)} (errno {e})", e);
    }

    /// <summary>An exception for the last failed call.</summary>
    public static IOException FromLast(string operation) => Exception(operation);
}
