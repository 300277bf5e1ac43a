using Hotplug.Tests.Uevents;
using Microsoft.Extensions.Logging;

namespace Hotplug.Tests.Support;

/// <summary>An ILoggerFactory that writes to the test's output.</summary>
internal static class XunitLoggerFactory
{
    public static ILoggerFactory Create(ITestOutputHelper output, LogLevel minimum = LogLevel.Debug) =>
        LoggerFactory.Create(b => b.SetMinimumLevel(minimum).AddProvider(new Provider(output, minimum)));

    private sealed class Provider(ITestOutputHelper output, LogLevel minimum) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new TestOutputLogger(output, minimum);
        public void Dispose() { }
    }
}
