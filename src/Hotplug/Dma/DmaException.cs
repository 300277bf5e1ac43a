namespace Hotplug.Dma;

/// <summary>DMA memory could not be allocated or made visible to a device; the message names the fix.</summary>
public sealed class DmaException : HotplugException
{
    /// <summary>Creates the exception.</summary>
    public DmaException(string message, Exception? inner = null) : base(message, inner) { }
}
