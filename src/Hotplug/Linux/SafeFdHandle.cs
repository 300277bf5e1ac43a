using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace Hotplug.Linux;

/// <summary>Owns a Linux file descriptor and closes it exactly once when released.</summary>
internal sealed class SafeFdHandle : SafeHandle
{
    /// <summary>Creates an empty (invalid) handle.</summary>
    public SafeFdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of <paramref name="fd"/>.</summary>
    /// <param name="fd">An open file descriptor, or -1.</param>
    public SafeFdHandle(int fd)
        : this()
    {
        SetHandle(new IntPtr(fd));
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>The descriptor number (valid only while the handle is open).</summary>
    public int Fd => (int)handle.ToInt64();

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        // close() must not be retried on EINTR on Linux: the descriptor is gone either way.
        return close((int)handle.ToInt64()) == 0;
    }
}
