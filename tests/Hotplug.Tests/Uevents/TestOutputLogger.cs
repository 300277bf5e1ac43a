using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Hotplug.Tests.Uevents;

/// <summary>An <see cref="ILogger"/> that writes to the xunit test output, so failures show what was logged.</summary>
internal sealed class TestOutputLogger(ITestOutputHelper output, LogLevel minimum = LogLevel.Debug) : ILogger
{
    private int _lines;

    /// <summary>Lines written at <see cref="LogLevel.Warning"/> or above.</summary>
    public int Warnings { get; private set; }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel >= LogLevel.Warning)
            Warnings++;
        if (!IsEnabled(logLevel) || ++_lines > 200)
            return; // keep the output readable when thousands of datagrams are dropped
        output.WriteLine($"[{logLevel}] {formatter(state, exception)}");
    }
}
