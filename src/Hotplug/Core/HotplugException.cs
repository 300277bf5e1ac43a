namespace Hotplug;

/// <summary>A hotplug operation could not be done; the message says why.</summary>
public class HotplugException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HotplugException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>No bus is registered under the given name.</summary>
public sealed class BusNotFoundException(string busName)
    : HotplugException($"No bus named '{busName}' is registered.")
{
    /// <summary>The name that was asked for.</summary>
    public string BusName { get; } = busName;
}

/// <summary>The bus knows no device of the given name (or the name is not valid for it).</summary>
public sealed class DeviceNotFoundException(string busName, string deviceName, string? detail = null)
    : HotplugException($"Bus '{busName}' has no device '{deviceName}'{(detail is null ? "." : ": " + detail)}")
{
    /// <summary>The bus that was asked.</summary>
    public string BusName { get; } = busName;
    /// <summary>The device name that was asked for.</summary>
    public string DeviceName { get; } = deviceName;
}
