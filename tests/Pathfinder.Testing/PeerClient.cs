using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// A raw PeerJS protocol client over a real <see cref="ClientWebSocket"/>. Every wait is bounded.
/// </summary>
public sealed class PeerClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly ClientWebSocket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];

    private PeerClient(ClientWebSocket socket, string id, string token)
    {
        _socket = socket;
        Id = id;
        Token = token;
    }

    public string Id { get; }

    public string Token { get; }

    public ClientWebSocket Socket => _socket;

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    /// <summary>A unique id, valid for the peerjs client's validateId rule.</summary>
    public static string NewId(string prefix = "peer") => $"{prefix}-{Guid.NewGuid():N}";

    public static Uri BuildUri(Uri socketUri, string? key, string? id, string? token)
    {
        var query = new List<string>();
        if (key is not null) { query.Add("key=" + Uri.EscapeDataString(key)); }
        if (id is not null) { query.Add("id=" + Uri.EscapeDataString(id)); }
        if (token is not null) { query.Add("token=" + Uri.EscapeDataString(token)); }
        query.Add("version=1.5.5");
        return new Uri(socketUri + "?" + string.Join('&', query));
    }

    /// <summary>Opens the WebSocket (no protocol expectations: the caller reads OPEN or an error).</summary>
    public static async Task<PeerClient> OpenAsync(
        Uri socketUri,
        string? id,
        string? token = null,
        string? key = SignalingTestHost.DefaultKey,
        Action<ClientWebSocketOptions>? configure = null,
        Uri? rawUri = null)
    {
        var socket = new ClientWebSocket();
        configure?.Invoke(socket.Options);
        token ??= "tok" + Guid.NewGuid().ToString("N")[..10];
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(rawUri ?? BuildUri(socketUri, key, id, token), cts.Token);
        return new PeerClient(socket, id ?? string.Empty, token);
    }

    /// <summary>Connects and asserts that the first frame is exactly OPEN.</summary>
    public static async Task<PeerClient> ConnectAsync(
        Uri socketUri,
        string? id = null,
        string? token = null,
        string? key = SignalingTestHost.DefaultKey,
        Action<ClientWebSocketOptions>? configure = null)
    {
        var client = await OpenAsync(socketUri, id ?? NewId(), token, key, configure);
        var first = await client.ReceiveAsync();
        if (first != """{"type":"OPEN"}""")
        {
            await client.DisposeAsync();
            throw new InvalidOperationException($"expected OPEN as the first frame, got {first}");
        }

        return client;
    }

    public Task SendAsync(string json) => SendAsync(json, WebSocketMessageType.Text);

    public async Task SendAsync(string json, WebSocketMessageType type)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await _socket.SendAsync(Encoding.UTF8.GetBytes(json), type, true, cts.Token);
    }

    public async Task SendBytesAsync(byte[] bytes, WebSocketMessageType type = WebSocketMessageType.Text)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await _socket.SendAsync(bytes, type, true, cts.Token);
    }

    /// <summary>Sends a relayed message of the given type to <paramref name="dst"/> with a raw JSON payload.</summary>
    public Task SendToAsync(string type, string dst, string? payloadJson = null) =>
        SendAsync(payloadJson is null
            ? $$"""{"type":"{{type}}","dst":{{JsonSerializer.Serialize(dst)}}}"""
            : $$"""{"type":"{{type}}","dst":{{JsonSerializer.Serialize(dst)}},"payload":{{payloadJson}}}""");

    /// <summary>The next text message; throws <see cref="TimeoutException"/> or when the socket closes instead.</summary>
    public async Task<string> ReceiveAsync(TimeSpan? timeout = null)
    {
        var message = await TryReceiveAsync(timeout);
        return message ?? throw new InvalidOperationException(
            $"socket closed ({_socket.CloseStatus} {_socket.CloseStatusDescription}) while a message was expected");
    }

    /// <summary>The next message, or null when the socket closed.</summary>
    public async Task<string?> TryReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        using var stream = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(_buffer, cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }

                stream.Write(_buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"no message for {Id} within {timeout ?? DefaultTimeout}");
        }
    }

    public async Task<JsonElement> ReceiveJsonAsync(TimeSpan? timeout = null)
    {
        var text = await ReceiveAsync(timeout);
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    /// <summary>Reads until the server closes the socket; returns the messages seen before the close.</summary>
    public async Task<IReadOnlyList<string>> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        var seen = new List<string>();
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"{Id}: the server did not close the socket");
            }

            string? message;
            try
            {
                message = await TryReceiveAsync(left);
            }
            catch (WebSocketException)
            {
                return seen; // aborted connection counts as closed
            }

            if (message is null)
            {
                return seen;
            }

            seen.Add(message);
        }
    }

    /// <summary>
    /// Proves that nothing else is pending for this client: sends a unique HEARTBEAT-free marker to itself and
    /// returns every message that arrived before it.
    /// </summary>
    public async Task<IReadOnlyList<string>> DrainWithMarkerAsync()
    {
        var marker = Guid.NewGuid().ToString("N");
        await SendToAsync("CANDIDATE", Id, $$"""{"marker":"{{marker}}"}""");
        var before = new List<string>();
        while (true)
        {
            var message = await ReceiveAsync();
            if (message.Contains(marker, StringComparison.Ordinal))
            {
                return before;
            }

            before.Add(message);
        }
    }

    public async Task CloseAsync()
    {
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var cts = new CancellationTokenSource(DefaultTimeout);
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        _socket.Dispose();
    }
}
