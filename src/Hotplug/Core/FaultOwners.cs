using System.Collections.Concurrent;
using Hotplug.Interop;

namespace Hotplug;

/// <summary>
/// Which device each registered mapping belongs to, by the cookie the shim records with every fault. The lookup
/// is O(1) and lock-free on the event thread; a cookie that is no longer registered (the mapping was released
/// since the fault) is stale and charged to nobody, so a late record never hurts the device mapped there now.
/// </summary>
internal sealed class FaultOwners
{
    private readonly ConcurrentDictionary<ulong, Device> _owners = new();

    public ulong Register(Device device)
    {
        ulong cookie = NativeShim.NextCookie();
        _owners[cookie] = device;
        return cookie;
    }

    public void Forget(ulong cookie) => _owners.TryRemove(cookie, out _);

    public Device? Find(ulong cookie) => _owners.GetValueOrDefault(cookie);

    /// <summary>Runs the lookup once (compiles its generic code ahead of the first fault).</summary>
    public void Warm() => _ = _owners.TryGetValue(0, out _);
}
