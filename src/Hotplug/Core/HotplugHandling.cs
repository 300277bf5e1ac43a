using Hotplug.Interop;
using Hotplug.Loop;
using Microsoft.Extensions.Logging;

namespace Hotplug;

/// <summary>
/// Hotplug handling (DPDK's rte_dev_hotplug_handle_enable): the SIGBUS shim installed, its fault ring drained
/// into the <see cref="RemovalCoordinator"/>, and uevent removals remapping devices. Reference counted; only
/// one owner per process, because the signal handler and the ring are process-wide.
/// </summary>
internal sealed class HotplugHandling(RemovalCoordinator coordinator, EventLoop loop, ILogger logger)
{
    private static HotplugHandling? s_owner; // the only static state: the shim it guards is process-wide
    private int _refs;
    private FaultChannel? _faults;

    public bool Enabled => _refs > 0;

    /// <summary>Under the coordinator's gate. True if this call turned it on (the caller then warms the removal path).</summary>
    public bool Enable()
    {
        if (_refs++ > 0)
            return false;
        if (Interlocked.CompareExchange(ref s_owner, this, null) is not null)
        {
            _refs = 0;
            throw new InvalidOperationException("Another Eal in this process has hotplug handling enabled; dispose it or disable its handling first.");
        }
        try
        {
            NativeShim.CheckedVersion();
            Sys.CheckNegated(NativeShim.hp_sigbus_install(), "installing the SIGBUS handler");
            _faults = new FaultChannel(loop, coordinator.OnFault);
        }
        catch
        {
            _refs = 0;
            Interlocked.Exchange(ref s_owner, null);
            throw;
        }
        coordinator.HandlingEnabled = true;
        logger.LogInformation("Hotplug handling enabled");
        return true;
    }

    /// <summary>Under the coordinator's gate. False if it was not enabled.</summary>
    public bool Disable(bool all = false)
    {
        if (_refs == 0)
            return false;
        _refs = all ? 0 : _refs - 1;
        if (_refs > 0)
            return true;
        coordinator.HandlingEnabled = false;
        _faults?.Dispose();
        _faults = null;
        int rc = NativeShim.hp_sigbus_uninstall();
        if (rc == 1)
            logger.LogWarning("Another SIGBUS handler was installed over ours; ours stays below it and passes every signal on");
        else if (rc < 0)
            logger.LogError("Uninstalling the SIGBUS handler failed: {Error}", Sys.Describe(-rc));
        Interlocked.Exchange(ref s_owner, null);
        logger.LogInformation("Hotplug handling disabled");
        return true;
    }
}
