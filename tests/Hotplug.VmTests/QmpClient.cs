using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Hotplug.VmTests;

/// <summary>
/// A QEMU Machine Protocol client over a unix socket: negotiates capabilities, executes commands
/// (matched to their replies by id) and records every asynchronous event with its host arrival time.
/// </summary>
public sealed class QmpClient : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly Task _reader;
    private readonly JsonLineLog _log = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private int _nextId;

    private QmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = Task.Run(ReadLoop);
    }

    /// <summary>Everything QEMU sent (greeting, replies, events), in order.</summary>
    public JsonLineLog Log => _log;

    public static async Task<QmpClient> ConnectAsync(string path, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        Socket? socket = null;
        while (true)
        {
            try
            {
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path)).ConfigureAwait(false);
                break;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket?.Dispose();
                await Task.Delay(50).ConfigureAwait(false);
            }
        }
        var client = new QmpClient(socket);
        try
        {
            await client._log.WaitAsync(m => m.Json.TryGetProperty("QMP", out _), timeout, what: "the QMP greeting").ConfigureAwait(false);
            await client.ExecuteAsync("qmp_capabilities", null, timeout).ConfigureAwait(false);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Executes a command and returns its "return" value; a QMP error becomes a <see cref="GuestException"/>.</summary>
    public async Task<JsonElement> ExecuteAsync(string command, object? arguments = null, TimeSpan? timeout = null)
    {
        int id = Interlocked.Increment(ref _nextId);
        var request = new JsonObject { ["execute"] = command, ["id"] = id };
        if (arguments != null)
            request["arguments"] = JsonSerializer.SerializeToNode(arguments, arguments.GetType());
        int from = _log.Count;
        byte[] bytes = Encoding.UTF8.GetBytes(request.ToJsonString() + "\n");
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try { await _stream.WriteAsync(bytes).ConfigureAwait(false); }
        finally { _sendLock.Release(); }

        var reply = await _log.WaitAsync(
            m => m.Json.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.Number && i.GetInt32() == id,
            timeout ?? TimeSpan.FromSeconds(10), from, $"the reply to QMP {command}").ConfigureAwait(false);
        if (reply.Json.TryGetProperty("error", out var error))
            throw new GuestException($"QMP {command} failed: {error}");
        return reply.Json.GetProperty("return");
    }

    /// <summary>Waits for an event named <paramref name="name"/> received at log index &gt;= <paramref name="from"/>.</summary>
    public Task<JsonMessage> WaitForEventAsync(string name, TimeSpan timeout, int from = 0, Func<JsonElement, bool>? data = null) =>
        _log.WaitAsync(
            m => m.Str("event") == name
                 && (data == null || (m.Json.TryGetProperty("data", out var d) && data(d))),
            timeout, from, $"QMP event {name}");

    /// <summary>Waits for DEVICE_DELETED of the device with this id (the QOM path event is ignored).</summary>
    public Task<JsonMessage> WaitForDeviceDeletedAsync(string deviceId, TimeSpan timeout, int from = 0) =>
        WaitForEventAsync("DEVICE_DELETED", timeout, from,
            d => d.TryGetProperty("device", out var dev) && dev.GetString() == deviceId);

    private async Task ReadLoop()
    {
        try
        {
            using var reader = new StreamReader(_stream, Encoding.UTF8);
            string? line;
            while ((line = await reader.ReadLineAsync().ConfigureAwait(false)) != null)
                _log.AddLine(line);
            _log.Close("QMP socket closed by QEMU");
        }
        catch (Exception e)
        {
            _log.Close($"QMP read failed: {e.Message}");
        }
    }

    public void Dispose()
    {
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
        try { _reader.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        _stream.Dispose();
        _sendLock.Dispose();
    }
}
