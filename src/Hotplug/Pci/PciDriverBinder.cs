using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>
/// Binds a PCI function to a kernel driver the way the kernel documents it: write the driver's name to
/// the function's <c>driver_override</c>, then its address to the bus's <c>drivers_probe</c>. Paths are
/// relative to the configured devices directory (<c>ROOT/ADDR/driver_override</c>,
/// <c>ROOT/../drivers_probe</c>), so a fake tree gets the writes, never the host's. The probe is repeated until
/// the function is bound (a function the kernel has only just added ignores the first).
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
            _ = ProbeAgainUntilBoundAsync(devicesRoot, probePath, address, logger); // off the event thread
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("{Device}: binding {Driver} failed: {Error}", address, driver, e.Message);
            return false;
        }
    }

    /// <summary>
    /// The ADD uevent comes before the kernel lets drivers match the new function, so a probe written at once may bind
    /// nothing; with <c>drivers_autoprobe</c> 0 nothing else would. Probes again every 50 ms, for 2 s at most, until
    /// the function has a driver (or is gone).
    /// </summary>
    private static async Task ProbeAgainUntilBoundAsync(string devicesRoot, string probePath, PciAddress address, ILogger logger)
    {
        string dir = Path.Combine(devicesRoot, address.ToString());
        for (int i = 0; i < 40; i++)
        {
            await Task.Delay(50).ConfigureAwait(false);
            if (!Directory.Exists(dir) || Directory.Exists(Path.Combine(dir, "driver")))
                return;
            try
            {
                File.WriteAllText(probePath, address.ToString());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                logger.LogDebug("{Device}: drivers_probe again failed: {Error}", address, e.Message);
            }
        }
        logger.LogWarning("{Device}: no driver bound 2 s after asking the kernel; check dmesg", address);
    }
}
