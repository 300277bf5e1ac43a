using System.Runtime.CompilerServices;
using Hotplug.Loop;
using Microsoft.Extensions.Logging;
using static Tmds.Linux.LibC;

namespace Hotplug.Interrupts;

/// <summary>
/// A device's enabled interrupts: owns the <see cref="InterruptVector"/>s and their fds, watches the fds on the
/// event loop (from a vector's first consumer on), and ends every vector at once when the interrupts are
/// disabled or the device is gone. One per attachment; thread-safe.
/// </summary>
internal sealed class InterruptSet : IDisposable
{
    private readonly EventLoop _loop;
    private readonly InterruptBackend _backend;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private InterruptVector[] _vectors = [];
    private InterruptSource[] _sources = [];
    private bool _gone;

    public InterruptSet(EventLoop loop, InterruptBackend backend, ILogger logger)
    {
        _loop = loop;
        _backend = backend;
        _logger = logger;
    }

    /// <summary>The vectors enabled now (empty before <see cref="Enable"/>, after <see cref="Disable"/> and after <see cref="DeviceGone"/>).</summary>
    public IReadOnlyList<InterruptVector> Vectors
    {
        get
        {
            lock (_lock)
                return _vectors;
        }
    }

    /// <summary>True once <see cref="DeviceGone"/> was called.</summary>
    public bool IsGone
    {
        get
        {
            lock (_lock)
                return _gone;
        }
    }

    /// <summary>Arms <paramref name="count"/> vectors of <paramref name="kind"/> and returns them.</summary>
    /// <exception cref="InvalidOperationException">Vectors are enabled already (disable them first), or the device is gone.</exception>
    /// <exception cref="ArgumentException">The device does not have that many vectors of that kind.</exception>
    /// <exception cref="IOException">The kernel refused.</exception>
    public IReadOnlyList<InterruptVector> Enable(InterruptKind kind, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        lock (_lock)
        {
            if (_gone)
                throw new InvalidOperationException("The device is gone: its interrupts cannot be enabled.");
            if (_vectors.Length != 0)
                throw new InvalidOperationException($"{_vectors.Length} {_vectors[0].Kind} vectors are enabled already; disable them first.");
            var sources = _backend.Enable(kind, count);
            if (sources.Count != count)
            {
                DisarmAndClose(sources, LogLevel.Warning);
                throw new InvalidOperationException($"The interrupt backend returned {sources.Count} sources for {count} vectors.");
            }
            var vectors = new InterruptVector[count];
            for (int i = 0; i < count; i++)
                vectors[i] = new InterruptVector(this, i, kind, sources[i]);
            _sources = [.. sources];
            _vectors = vectors;
            _logger.LogDebug("Enabled {Count} {Kind} interrupt vector(s)", count, kind);
            return vectors;
        }
    }

    /// <summary>
    /// Turns the interrupts off (detach, or the driver is done with them): every vector ends with
    /// <see cref="InterruptWaitStatus.Disabled"/>, the device is disarmed, the fds are closed. Idempotent.
    /// </summary>
    public void Disable() => End(InterruptWaitStatus.Disabled);

    /// <summary>
    /// The device is gone: every vector ends with <see cref="InterruptWaitStatus.DeviceRemoved"/> at once
    /// (pending waits complete now), the backend is disarmed as far as it still can be (never throws, also when
    /// the device fd is closed already), the fds are closed. Idempotent, any thread; later <see cref="Enable"/>
    /// calls fail.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the removal path: no tier-0 code there
    public void DeviceGone()
    {
        lock (_lock)
            _gone = true;
        End(InterruptWaitStatus.DeviceRemoved);
    }

    /// <summary>Same as <see cref="Disable"/>.</summary>
    public void Dispose() => Disable();

    internal void Unmask(int index) => _backend.Unmask(index);

    internal IDisposable Watch(InterruptSource source, Action<int> onReady, InterruptVector vector) =>
        _loop.Add(source.Handle.Fd, EPOLLIN, onReady, $"interrupt {vector}");

    internal void SourceBroken(InterruptVector vector, int events) =>
        _logger.LogDebug("Interrupt fd of vector {Vector} failed (events 0x{Events:x}); no longer watched", vector, events);

    private void End(InterruptWaitStatus state)
    {
        InterruptVector[] vectors;
        InterruptSource[] sources;
        lock (_lock)
        {
            vectors = _vectors;
            sources = _sources;
            _vectors = [];
            _sources = [];
        }
        if (vectors.Length == 0)
            return;
        foreach (var v in vectors)
            v.End(state); // waiters first: nothing waits on the kernel
        // After a removal a failed disarm is expected (the fd may be closed, the device gone).
        DisarmAndClose(sources, state == InterruptWaitStatus.DeviceRemoved ? LogLevel.Debug : LogLevel.Warning);
        _logger.LogDebug("Interrupts ended ({State}): {Count} vector(s)", state, vectors.Length);
    }

    private void DisarmAndClose(IReadOnlyList<InterruptSource> sources, LogLevel failure)
    {
        try
        {
            _backend.Disable();
        }
        catch (Exception ex)
        {
            _logger.Log(failure, ex, "Disarming the device's interrupts failed (the device may be gone)");
        }
        foreach (var s in sources)
            s.Dispose();
    }
}
