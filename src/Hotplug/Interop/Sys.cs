using System.Runtime.InteropServices;
using System.Text;
using static Tmds.Linux.LibC;

namespace Hotplug.Interop;

/// <summary>
/// The one family of errno checks (in the style of dotnet/runtime's <c>Interop.CheckIo</c>) and the one
/// "open this path" helper. A failed call becomes an <see cref="IOException"/> that names the call, the
/// system's message and the errno (also in <see cref="Exception.HResult"/>). Tmds.LibC sets SetLastError.
/// </summary>
internal static unsafe class Sys
{
    /// <summary>errno of the last libc call made through Tmds.LibC on this thread.</summary>
    public static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>The system's text for <paramref name="errno"/>.</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>An exception for a failed <paramref name="operation"/>; <paramref name="errno"/> defaults to the current one.</summary>
    public static IOException IoError(string operation, int? errno = null)
    {
        int e = errno ?? LastErrno;
        return new IOException($"{operation} failed: {Describe(e)} (errno {e})", e);
    }

    /// <summary>Returns <paramref name="result"/> unless it is negative (a failed libc call): then throws with errno.</summary>
    public static int CheckIo(int result, string operation) => result >= 0 ? result : throw IoError(operation);

    /// <summary>Returns <paramref name="result"/> unless it is negative (a failed libc call): then throws with errno.</summary>
    public static long CheckIo(long result, string operation) => result >= 0 ? result : throw IoError(operation);

    /// <summary>For calls that return <c>-errno</c> (the shim's): returns <paramref name="result"/> unless it is negative.</summary>
    public static int CheckNegated(int result, string operation) => result >= 0 ? result : throw IoError(operation, -result);

    /// <summary>Takes ownership of <paramref name="fd"/>, or throws with errno when it is negative.</summary>
    public static SafeFdHandle CheckFd(int fd, string operation) => new(CheckIo(fd, operation));

    /// <summary>Opens <paramref name="path"/> with <paramref name="flags"/> | <c>O_CLOEXEC</c>.</summary>
    /// <exception cref="IOException">open failed; the message names the path and errno.</exception>
    public static SafeFdHandle Open(string path, int flags) => new(OpenFd(path, flags));

    /// <summary>Opens <paramref name="path"/> with <paramref name="flags"/> | <c>O_CLOEXEC</c>; the caller owns the fd.</summary>
    public static int OpenFd(string path, int flags)
    {
        int fd = TryOpenFd(path, flags);
        return fd >= 0 ? fd : throw IoError($"open {path}");
    }

    /// <summary>Opens <paramref name="path"/>; returns the fd, or -1 with errno set.</summary>
    public static int TryOpenFd(string path, int flags)
    {
        fixed (byte* p = NulTerminated(path))
            return open(p, flags | O_CLOEXEC, 0);
    }

    /// <summary><paramref name="s"/> as UTF-8 with a terminating NUL, for calls that take a C string.</summary>
    public static byte[] NulTerminated(string s) => Encoding.UTF8.GetBytes(s + "\0");
}
