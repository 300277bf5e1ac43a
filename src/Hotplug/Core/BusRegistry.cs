using System.Collections;

namespace Hotplug;

/// <summary>The buses of one <see cref="Eal"/> (DPDK's rte_bus_register / rte_bus_find_by_name).</summary>
public sealed class BusRegistry : IEnumerable<IBus>
{
    private readonly List<IBus> _buses = [];
    private readonly BusHost _host;
    private readonly Lock _lock;

    internal BusRegistry(BusHost host, Lock gate)
    {
        _host = host;
        _lock = gate;
    }

    /// <summary>Registers a bus and returns it. Names are unique.</summary>
    /// <exception cref="InvalidOperationException">A bus of that name is registered already.</exception>
    public T Register<T>(T bus) where T : class, IBus
    {
        ArgumentNullException.ThrowIfNull(bus);
        lock (_lock)
        {
            if (Find(bus.Name) is not null)
                throw new InvalidOperationException($"A bus named '{bus.Name}' is registered already.");
            bus.Attach(_host);
            _buses.Add(bus);
            return bus;
        }
    }

    /// <summary>The bus named <paramref name="name"/>, or null.</summary>
    public IBus? Find(string name)
    {
        lock (_lock)
            return _buses.Find(b => b.Name == name);
    }

    /// <summary>The bus named <paramref name="name"/>.</summary>
    /// <exception cref="BusNotFoundException">There is none.</exception>
    public IBus Get(string name) => Find(name) ?? throw new BusNotFoundException(name);

    /// <summary>The first bus of type <typeparamref name="T"/>, or null.</summary>
    public T? Find<T>() where T : class, IBus
    {
        lock (_lock)
            return _buses.OfType<T>().FirstOrDefault();
    }

    /// <inheritdoc />
    public IEnumerator<IBus> GetEnumerator()
    {
        lock (_lock)
            return _buses.ToList().GetEnumerator();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
