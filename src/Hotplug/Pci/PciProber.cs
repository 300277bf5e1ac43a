using Microsoft.Extensions.Logging;

namespace Hotplug.Pci;

/// <summary>
/// Matches a Parsed device against the registered drivers (allow / block lists, id tables), holds it through the
/// attachment its kernel driver calls for, and commits the attach when a driver accepts it. A failed probe, or a
/// removal that arrives during the probe, undoes everything.
/// </summary>
internal sealed class PciProber(PciAttachContext context, HashSet<PciAddress> allow, HashSet<PciAddress> block, Action<int> vfioReleaseCounter)
{
    private readonly List<PciDriver> _drivers = [];
    private readonly HashSet<PciAddress> _allow = allow;
    private readonly HashSet<PciAddress> _block = block;

    public IReadOnlyList<PciDriver> Drivers => _drivers;

    public bool IsAllowListed(PciAddress a) => _allow.Contains(a);

    public void Register(PciDriver driver)
    {
        ArgumentNullException.ThrowIfNull(driver);
        if (_drivers.Any(d => d == driver || d.Name == driver.Name))
            throw new InvalidOperationException($"A PCI driver named '{driver.Name}' is registered already.");
        _drivers.Add(driver);
    }

    /// <summary>Attaches the first matching driver that accepts the device. False with the reason if none did.</summary>
    /// <exception cref="HotplugException">A driver's probe threw, or the device was removed while it was attached.</exception>
    public bool TryProbe(PciDevice d, out string? why)
    {
        why = null;
        if (d.State != DeviceState.Parsed)
        {
            why = $"it is {d.State}";
            return false;
        }
        if (_block.Contains(d.Address) || (_allow.Count > 0 && !_allow.Contains(d.Address)))
        {
            why = "it is not allowed (allow/block list)";
            return false;
        }
        var candidates = _drivers.Where(drv => drv.Matches(d.Info)).ToList();
        if (candidates.Count == 0)
        {
            why = $"no registered driver matches {d.Info.VendorId:x4}:{d.Info.DeviceId:x4}";
            return false;
        }
        foreach (var drv in candidates)
        {
            if (TryAttach(d, drv, ref why))
                return true;
        }
        return false;
    }

    private bool TryAttach(PciDevice d, PciDriver drv, ref string? why)
    {
        PciAttachment? attachment = null;
        if (drv.NeedsMapping)
        {
            attachment = PciAttachmentFactory.Create(d, context, vfioReleaseCounter, out why);
            if (attachment is null)
                return false;
        }
        try
        {
            if (attachment is not null)
            {
                attachment.Open(); // the removal watch is armed before the BARs are mapped and the driver runs
                d.Attachment = attachment;
            }
            if (!drv.Probe(d))
            {
                Undo(d);
                why = $"{drv.Name} declined it";
                return false;
            }
            if (attachment is not null && !attachment.Commit())
            {
                Undo(d);
                throw new HotplugException($"pci:{d.Name} was removed while {drv.Name} was attaching it; it is not attached.");
            }
        }
        catch (Exception e)
        {
            // Whatever was thrown (a HotplugException too), undo the mapping before it propagates.
            Undo(d);
            if (e is HotplugException)
                throw;
            throw new HotplugException($"{drv.Name} failed to probe pci:{d.Name}: {e.Message}", e);
        }
        d.SetAttached(drv, DeviceState.Probed, context.Host.BeginAttachment(d));
        context.Logger.LogInformation("{Device} attached to {Driver}", d.Name, drv.Name);
        return true;
    }

    private static void Undo(PciDevice d)
    {
        d.Attachment?.Release();
        d.Attachment = null;
    }
}
