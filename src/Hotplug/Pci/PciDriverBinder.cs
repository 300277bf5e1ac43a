using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>
/// Binds a PCI function to a kernel driver the way the kernel documents it: write the driver's name to
/// the function's <c>driver_override</c>, then its address to the bus's <c>drivers_probe</c>. Paths are
/// relative to the configured devices directory (<c>ROOT/ADDR/driver_override</c>,
/// <c>ROOT/../drivers_probe</c>), so a fake tree gets the writes, never the host's.
/// </summary>
internal static class PciDriverBinder
{
    public static bool Bind(string devicesRoot, PciAddress address, string driver, ILogger logger)
    {
        string overridePath = Path.Combine(devicesRoot, address.ToString(), "driver_override");
        string probePath = Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(devicesRoot))!, "drivers_probe");
        try
        {
            File.WriteAllText(overridePath, driver);
            File.WriteAllText(probePath, address.ToString());
            logger.LogInformation("{Device}: asked the kernel to bind {Driver}", address, driver);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("{Device}: binding {Driver} failed: {Error}", address, driver, e.Message);
            return false;
        }
    }
}
