namespace Hotplug.VmTests;

/// <summary>A failure of the guest or of QEMU; the message carries the logs that explain it.</summary>
public sealed class GuestException : Exception
{
    public GuestException(string message, Exception? inner = null) : base(message, inner) { }
}
