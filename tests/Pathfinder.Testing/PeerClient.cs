using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// A raw PeerJS protocol client over a real <see cref="ClientWebSocket"/>. Every wait is bounded.
/// </summary>
public sealed class PeerClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly ClientWebSocket _socket;
    private readonly Channel<string> _inbox = Channel.CreateUnbounded<string>();
    private Task? _pump;

    private PeerClient(ClientWebSocket socket, string id, string token)
    {
        _socket = socket;
        Id = id;
        Token = token;
    }

    /// <summary>
    /// Reads the socket in the background into an inbox, so that waiting for a message with a timeout never cancels
    /// (and so aborts) a socket receive. A client that must not read (a stuck consumer) never starts it.
    /// </summary>
    private void StartPump() => _pump ??= Task.Run(PumpAsync);

    private async Task PumpAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    // Complete the close handshake at once, as browsers do.
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        using var cts = new CancellationTokenSource(DefaultTimeout);
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
                    }

                    break;
                }

                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    _inbox.Writer.TryWrite(Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length));
                    message.SetLength(0);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            _inbox.Writer.TryComplete();
        }
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
        Uri? rawUri = null,
        bool read = true)
    {
        var socket = new ClientWebSocket();
        configure?.Invoke(socket.Options);
        token ??= "tok" + Guid.NewGuid().ToString("N")[..10];
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(rawUri ?? BuildUri(socketUri, key, id, token), cts.Token);
        var client = new PeerClient(socket, id ?? string.Empty, token);
        if (read)
        {
            client.StartPump();
        }

        return client;
    }

    /// <summary>Connects and asserts that the first frame is exactly OPEN.</summary>
    public static async Task<PeerClient> ConnectAsync(
        Uri socketUri,
        string? id = null,
        string? token = null,
        string? key = SignalingTestHost.DefaultKey,
        Action<ClientWebSocketOptions>? configure = null,
        bool read = true)
    {
        var client = await OpenAsync(socketUri, id ?? NewId(), token, key, configure, read: read);
        var first = read ? await client.ReceiveAsync() : await client.ReceiveOnceDirectAsync();
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
        StartPump();
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            return await _inbox.Reader.WaitToReadAsync(cts.Token) && _inbox.Reader.TryRead(out var message) ? message : null;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"no message for {Id} within {timeout ?? DefaultTimeout}");
        }
    }

    /// <summary>Reads one message straight from the socket (for a client that otherwise never reads).</summary>
    private async Task<string> ReceiveOnceDirectAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await _socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(DefaultTimeout);
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage || result.MessageType == WebSocketMessageType.Close)
            {
                return Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length);
            }
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
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }

        if (_pump is not null)
        {
            // The pump sees the server's answering close frame and ends.
            try
            {
                await _pump.WaitAsync(DefaultTimeout);
            }
            catch (TimeoutException)
            {
                _socket.Abort();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        _socket.Dispose();
    }
}
