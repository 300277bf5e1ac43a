using Hotplug.Tests.Uevents;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Support;

/// <summary>A logger provider that writes to the test's output (for hosts the tests build).</summary>
internal sealed class TestLoggerProvider(ITestOutputHelper output, LogLevel minimum = LogLevel.Information) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new TestOutputLogger(output, minimum);
    public void Dispose() { }
}
