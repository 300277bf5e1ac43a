using Hotplug.Pci;
using Microsoft.Extensions.Options;

namespace Hotplug.Hosting;

/// <summary>Checks <see cref="HotplugOptions"/> when the host starts (registered by <see cref="HotplugServiceCollectionExtensions.AddHotplug"/>).</summary>
public sealed class HotplugOptionsValidator : IValidateOptions<HotplugOptions>
{
    private static readonly string[] s_bindable = ["vfio-pci", "uio_pci_generic", "igb_uio"];

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, HotplugOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.UeventReceiveBufferBytes <= 0)
            errors.Add($"{nameof(HotplugOptions.UeventReceiveBufferBytes)} must be positive (it is {options.UeventReceiveBufferBytes}).");
        if (options.EventThreadCpus is null)
            errors.Add($"{nameof(HotplugOptions.EventThreadCpus)} must not be null (empty: the process's CPUs).");
        else if (options.EventThreadCpus.Where(c => c is < 0 or > 1023).Select(c => (int?)c).FirstOrDefault() is int bad)
            errors.Add($"{nameof(HotplugOptions.EventThreadCpus)} has CPU {bad}: CPUs are numbered 0..1023.");
        var pci = options.Pci;
        if (pci is null)
        {
            errors.Add($"{nameof(HotplugOptions.Pci)} must not be null.");
            return ValidateOptionsResult.Fail(errors);
        }
        if (pci.SysfsRoot is { } s && string.IsNullOrWhiteSpace(s))
            errors.Add("Pci.SysfsRoot is empty; leave it null for the default.");
        if (pci.DevRoot is { } d && string.IsNullOrWhiteSpace(d))
            errors.Add("Pci.DevRoot is empty; leave it null for the default.");
        CheckAddresses("Pci.AllowList", pci.AllowList, errors);
        CheckAddresses("Pci.BlockList", pci.BlockList, errors);
        if (!Enum.IsDefined(pci.Fill))
            errors.Add($"Pci.Fill {(int)pci.Fill} is not a {nameof(BarFill)}.");
        if (pci.AutoAttach && (pci.AllowList is null || pci.AllowList.Count == 0))
            errors.Add("Pci.AutoAttach needs a non-empty Pci.AllowList (only allow-listed devices are attached by themselves).");
        if (pci.AutoAttach && !options.StartMonitor)
            errors.Add("Pci.AutoAttach needs StartMonitor: re-added devices are seen through uevents.");
        if (pci.BindOnAdd is { } driver)
        {
            if (!pci.AutoAttach)
                errors.Add("Pci.BindOnAdd needs Pci.AutoAttach.");
            if (Array.IndexOf(s_bindable, driver) < 0)
                errors.Add($"Pci.BindOnAdd '{driver}' is not one of {string.Join(", ", s_bindable)}.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckAddresses(string what, IList<string>? list, List<string> errors)
    {
        if (list is null)
        {
            errors.Add($"{what} must not be null.");
            return;
        }
        foreach (string a in list)
        {
            if (!PciAddress.TryParse(a, out _, out string? error))
                errors.Add($"{what}: '{a}' is not a PCI address: {error}");
        }
    }
}
