using System.Buffers;
using System.Net.WebSockets;
using System.Threading.Channels;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// One client WebSocket: a receive loop that reads whole messages (pooled buffers only while a message is in
/// flight) and hands them to the router, and a send loop that is the socket's only writer, fed by a bounded queue.
/// Anyone may <see cref="TrySend"/> from any thread without blocking; a full queue closes the peer as a slow
/// consumer. <see cref="Close"/> is idempotent and never blocks.
/// </summary>
public sealed class PeerConnection : IPeerConnection, IDisposable
{
    private const int InitialReceiveBuffer = 4096;

    private readonly WebSocket _socket;
    private readonly PeerRouter _router;
    private readonly SignalingMetrics _metrics;
    private readonly ILogger _logger;
    private readonly int _maxMessageBytes;
    private readonly TimeSpan _closeTimeout;
    private readonly Channel<ReadOnlyMemory<byte>> _outbox;
    private static long s_nextConnectionId;
    private int _closing;
    private volatile bool _receiveEnded;
    private long _lastHeartbeat;

    public PeerConnection(
        WebSocket socket,
        string id,
        string token,
        PeerRouter router,
        TransportSettings settings,
        SignalingMetrics metrics,
        ILogger logger)
    {
        _socket = socket;
        Id = id;
        Token = token;
        _router = router;
        _metrics = metrics;
        _logger = logger;
        _maxMessageBytes = settings.MaxMessageBytes;
        _closeTimeout = settings.CloseTimeout;
        _outbox = Channel.CreateBounded<ReadOnlyMemory<byte>>(new BoundedChannelOptions(settings.SendQueueCapacity)
        {
            // A relay may complete on the thread that produced it: the send loop's continuation runs inline and
            // writes to the socket without blocking (a full socket makes the write go asynchronous). This removes
            // a thread hop per message, which on small machines costs more than the JSON work.
            AllowSynchronousContinuations = true,
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public string Id { get; }

    public string Token { get; }

    public long ConnectionId { get; } = Interlocked.Increment(ref s_nextConnectionId);

    public long LastHeartbeat
    {
        get => Volatile.Read(ref _lastHeartbeat);
        set => Volatile.Write(ref _lastHeartbeat, value);
    }

    /// <summary>Why the connection closed (meaningful once it has).</summary>
    public DisconnectReason CloseReason { get; private set; } = DisconnectReason.ClientClose;

    public bool IsClosing => Volatile.Read(ref _closing) != 0;

    public bool TrySend(ReadOnlyMemory<byte> frame)
    {
        if (IsClosing)
        {
            return false;
        }

        if (_outbox.Writer.TryWrite(frame))
        {
            return true;
        }

        if (!IsClosing)
        {
            Log.SlowConsumer(_logger, Id);
            Close(DisconnectReason.SlowConsumer);
        }

        return false;
    }

    public void Close(DisconnectReason reason)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        CloseReason = reason;
        if (reason is DisconnectReason.SlowConsumer or DisconnectReason.Error)
        {
            // The pending send may never finish: aborting the socket fails it.
            _socket.Abort();
        }

        // Free the id before the close frame goes out: once a client sees its socket closed, its id is claimable
        // on every replica. Nothing new is accepted meanwhile (TrySend sees the closing flag).
        var released = _router.ReleaseAsync(this);
        if (released.IsCompletedSuccessfully)
        {
            _outbox.Writer.TryComplete();
        }
        else
        {
            _ = CompleteAfterAsync(released);
        }
    }

    private async Task CompleteAfterAsync(ValueTask released)
    {
        await released;
        _outbox.Writer.TryComplete();
    }

    /// <summary>Sends one in-band rejection (ERROR / ID-TAKEN) and closes the socket (1000).</summary>
    public async Task RejectAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _closing, 1);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_closeTimeout);
        try
        {
            await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
            // The reference closes without a status code; .NET would put the reserved code 1005 on the wire for
            // "Empty", which browsers reject as a broken close frame, so we send a normal closure instead.
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            // Wait (bounded) for the client's close frame so the close handshake completes cleanly.
            var scratch = new byte[256];
            while (_socket.State == WebSocketState.CloseSent)
            {
                var result = await _socket.ReceiveAsync(scratch, timeout.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException)
        {
        }
        finally
        {
            _socket.Abort();
            Dispose();
        }
    }

    /// <summary>Runs the connection until it closes; the caller unregisters it afterwards.</summary>
    public async Task RunAsync()
    {
        var sending = SendLoopAsync();
        try
        {
            await ReceiveLoopAsync();
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException)
        {
            if (!IsClosing)
            {
                Log.ConnectionError(_logger, Id, ex);
                Close(DisconnectReason.Error);
            }
        }
        finally
        {
            _receiveEnded = true;
            Close(DisconnectReason.ClientClose);
            await sending;
            _socket.Abort();
            Dispose();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        byte[]? buffer = null;
        var count = 0;
        var discarding = false;
        var token = CancellationToken.None;
        try
        {
            while (true)
            {
                if (buffer is null)
                {
                    // Idle peers hold no receive buffer: wait for the next frame with a zero-byte read.
                    var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, token);
                    if (peek.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }

                    if (peek.EndOfMessage)
                    {
                        // An empty message is not a JSON object.
                        _metrics.Malformed();
                        continue;
                    }

                    buffer = ArrayPool<byte>.Shared.Rent(InitialReceiveBuffer);
                }

                var result = await _socket.ReceiveAsync(buffer.AsMemory(count), token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                count += result.Count;
                if (!discarding && count > _maxMessageBytes)
                {
                    Log.MessageTooBig(_logger, Id, _maxMessageBytes);
                    Close(DisconnectReason.MessageTooBig);
                    discarding = true;
                }

                if (discarding)
                {
                    // Read and drop the rest until the client answers our close frame.
                    count = 0;
                    continue;
                }

                if (!result.EndOfMessage)
                {
                    if (count == buffer.Length)
                    {
                        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _maxMessageBytes + 1));
                        buffer.AsSpan(0, count).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }

                    continue;
                }

                if (!IsClosing)
                {
                    var relay = OnMessage(buffer.AsSpan(0, count));
                    if (!relay.IsCompletedSuccessfully)
                    {
                        await relay;
                    }
                }

                count = 0;
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = null;
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private ValueTask OnMessage(ReadOnlySpan<byte> frame)
    {
        if (!ClientMessage.TryParse(frame, out var message))
        {
            _metrics.Malformed();
            Log.MalformedFrame(_logger, Id, frame.Length);
            return ValueTask.CompletedTask;
        }

        return _router.RelayAsync(this, in message);
    }

    private async Task SendLoopAsync()
    {
        var reader = _outbox.Reader;
        try
        {
            while (await reader.WaitToReadAsync())
            {
                while (reader.TryRead(out var frame))
                {
                    await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
                }
            }

            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                var (status, description) = CloseStatusFor(CloseReason);
                using var timeout = new CancellationTokenSource(_closeTimeout);
                await _socket.CloseOutputAsync(status, description, timeout.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException)
        {
            Close(DisconnectReason.Error);
        }
        finally
        {
            if (!_receiveEnded)
            {
                // Do not wait forever for the client's answer to our close frame.
                _ = AbortIfStillOpenAsync();
            }
        }
    }

    private async Task AbortIfStillOpenAsync()
    {
        await Task.Delay(_closeTimeout);
        if (!_receiveEnded)
        {
            _socket.Abort();
        }
    }

    private static (WebSocketCloseStatus Status, string? Description) CloseStatusFor(DisconnectReason reason) => reason switch
    {
        DisconnectReason.ClientClose => (WebSocketCloseStatus.NormalClosure, null),
        DisconnectReason.Takeover => (WebSocketCloseStatus.NormalClosure, "Superseded by a newer connection"),
        DisconnectReason.HeartbeatTimeout => (WebSocketCloseStatus.NormalClosure, "No heartbeat"),
        DisconnectReason.MessageTooBig => (WebSocketCloseStatus.MessageTooBig, "Message too big"),
        DisconnectReason.Shutdown => (WebSocketCloseStatus.EndpointUnavailable, "Server shutting down"),
        _ => (WebSocketCloseStatus.InternalServerError, null),
    };

    public void Dispose()
    {
        _socket.Dispose();
    }
}

/// <summary>Transport limits, resolved once from the options.</summary>
public sealed record TransportSettings(int MaxMessageBytes, int SendQueueCapacity, TimeSpan CloseTimeout);
