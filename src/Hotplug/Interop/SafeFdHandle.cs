using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace Hotplug.Interop;

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

    /// <summary>
    /// Holds the descriptor open for the length of a call: a <see cref="SafeHandle.Dispose()"/> from another thread
    /// closes it only when the lease ends, so the number cannot be reused under the call.
    /// </summary>
    /// <exception cref="ObjectDisposedException">It is closed already.</exception>
    public Leased Lease()
    {
        bool added = false;
        DangerousAddRef(ref added);
        return new Leased(this);
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        // close() must not be retried on EINTR on Linux: the descriptor is gone either way.
        return close((int)handle.ToInt64()) == 0;
    }

    /// <summary>A descriptor held open; dispose to let it go.</summary>
    public readonly struct Leased(SafeFdHandle owner) : IDisposable
    {
        public int Fd => owner.Fd;

        public void Dispose() => owner.DangerousRelease();
    }
}
