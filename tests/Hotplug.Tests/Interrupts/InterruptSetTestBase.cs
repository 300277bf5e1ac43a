using Hotplug.Interrupts;
using Hotplug.Loop;
using Hotplug.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Interrupts;

/// <summary>An InterruptSet on a real event loop, with a backend of real eventfds the test writes.</summary>
public abstract class InterruptSetTestBase : IDisposable
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly ILoggerFactory _loggers;

    protected InterruptSetTestBase(ITestOutputHelper output)
    {
        _loggers = XunitLoggerFactory.Create(output);
        Loop = new EventLoop(_loggers.CreateLogger("loop"));
        Set = new InterruptSet(Loop, Backend, _loggers.CreateLogger("interrupts"));
    }

    internal EventLoop Loop { get; }

    internal TestInterruptBackend Backend { get; } = new();

    internal InterruptSet Set { get; }

    public void Dispose()
    {
        Set.Dispose();
        Loop.Dispose();
        _loggers.Dispose();
        GC.SuppressFinalize(this);
    }
}
