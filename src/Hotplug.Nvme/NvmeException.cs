namespace Hotplug.Nvme;

/// <summary>The controller did not do what the driver asked (it did not become ready, an admin command failed, it went away).</summary>
public sealed class NvmeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NvmeException(string message, NvmeStatus status = default, Exception? inner = null)
        : base(message, inner) => Status = status;

    /// <summary>The status of the admin command that failed, or <see cref="NvmeStatus.ControllerRemoved"/>.</summary>
    public NvmeStatus Status { get; }
}
