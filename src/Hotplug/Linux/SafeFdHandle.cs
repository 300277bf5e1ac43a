using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Hotplug.Linux;

/// <summary>Owns one file descriptor and closes it on release (fd 0 is valid, -1 is not).</summary>
internal sealed class SafeFdHandle : SafeHandle
{
    public SafeFdHandle(int fd) : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    /// <summary>The descriptor, for system calls. Valid while this handle is not closed.</summary>
    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => LibC.close((int)handle) == 0;
}
