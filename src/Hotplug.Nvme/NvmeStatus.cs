namespace Hotplug.Nvme;

/// <summary>
/// How an NVMe command ended: the controller's status (status code type and status code from the completion
/// entry), or one of the driver's own outcomes, which no controller can report:
/// <see cref="ControllerRemoved"/> (the device went away: the command may or may not have been executed, its
/// data must not be trusted), <see cref="ControllerFailed"/> (CSTS.CFS) and <see cref="QueueFull"/> (a batch
/// submission found no free slot: process completions and submit again; nothing was sent).
/// </summary>
/// <param name="Code">SCT in bits 10:8 and SC in bits 7:0; negative for the driver's own outcomes.</param>
public readonly record struct NvmeStatus(int Code)
{
    /// <summary>The command succeeded.</summary>
    public static NvmeStatus Success => default;

    /// <summary>The controller is gone (hot removal, or it read all-ones); never a success.</summary>
    public static NvmeStatus ControllerRemoved => new(-1);

    /// <summary>The controller reported a fatal status (CSTS.CFS).</summary>
    public static NvmeStatus ControllerFailed => new(-2);

    /// <summary>A batch submission found the queue full; nothing was sent.</summary>
    public static NvmeStatus QueueFull => new(-3);

    /// <summary>True for a successful completion.</summary>
    public bool IsSuccess => Code == 0;

    /// <summary>True if the controller went away.</summary>
    public bool IsControllerRemoved => Code == -1;

    /// <summary>Status code type (0 generic, 1 command specific, 2 media, ...); -1 for the driver's own outcomes.</summary>
    public int StatusCodeType => Code < 0 ? -1 : (Code >> 8) & 7;

    /// <summary>Status code within its type; -1 for the driver's own outcomes.</summary>
    public int StatusCode => Code < 0 ? -1 : Code & 0xFF;

    /// <summary>The status of a completion entry's dword 3 (phase bit excluded).</summary>
    internal static NvmeStatus FromCompletion(uint dw3) => new((int)((dw3 >> 17) & 0x7FF));

    /// <inheritdoc />
    public override string ToString() => Code switch
    {
        0 => "Success",
        -1 => "ControllerRemoved",
        -2 => "ControllerFailed",
        -3 => "QueueFull",
        _ => $"SCT {StatusCodeType:x} SC 0x{StatusCode:x2}",
    };
}
