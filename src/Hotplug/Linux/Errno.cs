using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Hotplug.Linux;

/// <summary>errno helpers: turn a failed call into an exception that names what failed.</summary>
internal static class Errno
{
    /// <summary>errno of the last libc call made through Tmds.LibC on this thread.</summary>
    public static int Last => Marshal.GetLastPInvokeError();

    public static unsafe string Describe(int errno)
    {
        byte* buf = stackalloc byte[256];
        return LibC.strerror_r(errno, buf, 256) == 0 ? Marshal.PtrToStringUTF8((nint)buf) ?? $"errno {errno}" : $"errno {errno}";
    }

    public static IOException Exception(string what, int errno) => new($"{what}: {Describe(errno)} (errno {errno})", errno);

    /// <summary>An exception for the last failed call.</summary>
    public static IOException FromLast(string what) => Exception(what, Last);
}
