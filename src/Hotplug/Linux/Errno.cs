using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace Hotplug.Linux;

/// <summary>Turns the calling thread's <c>errno</c> into exceptions with the system's message.</summary>
internal static class Errno
{
    /// <summary>An <see cref="IOException"/> for a failed call; <see cref="Exception.HResult"/> is the errno.</summary>
    /// <param name="operation">What failed, for example <c>bind(AF_NETLINK)</c>.</param>
    /// <param name="error">The errno value; the current one if omitted.</param>
    public static IOException Exception(string operation, int? error = null)
    {
        int e = error ?? errno;
        return new IOException($"{operation} failed: {Marshal.GetPInvokeErrorMessage(e)} (errno {e})", e);
    }
}
