using System.IO.Pipelines;
using System.Net.WebSockets;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// One client WebSocket over the connection's byte pipes: a receive loop that reads RFC 6455 frames
/// (<see cref="WebSocketFrameReader"/>) and hands complete messages to the router, and a bounded send queue that
/// anyone may fill from any thread without blocking (<see cref="TrySend"/>). Queued frames are written and flushed by
/// whichever thread finds the queue idle, unless the sender passes a <see cref="SendBatch"/>: frames queued for any
/// peer while one read is processed (this connection's own batch, handed to the router) are flushed together at the
/// end of that read. The queue has a budget in frames
/// (<see cref="TransportSettings.SendQueueCapacity"/>) and in bytes (<see cref="TransportSettings.SendQueueBytes"/>,
/// counted from enqueue until the flush that wrote them completes, the pending pong included); a peer over it is
/// closed as a slow consumer (1008). Of the pings a client sends, only the most recent waits for its pong
/// (RFC 6455 §5.5.3). <see cref="Close"/> is idempotent and never blocks.
/// <para>Lifecycle (this file; the receive loop is in PeerConnection.Receive.cs, the send queue in PeerConnection.Send.cs):</para>
/// <code>
///   accepted ──RejectAsync (ERROR / ID-TAKEN)──────────────────────────────┐  (never registered)
///      │ claim granted: Registered()                                       │
///      ▼                                                                   ▼
///   OPEN: reads frames, TrySend queues ──Close(reason), once (_closing)──► CLOSING: no new frames; the id is released,
///                                         (client close, takeover,          queued frames drain, then our close frame;
///                                          heartbeat, slow consumer,        a server-started close arms the close
///                                          rate, shutdown, error → abort)   timeout (then abort)
///                                                                            │ close frame flushed, or output gone
///                                                                            ▼
///                                                                         CLOSE WRITTEN: waits for the client's close
///                                                                            │ (bounded by the close timeout)
///                                                                            ▼
///   ENDED (EndAsync, after the last read): pipes completed, per-client slot released, disconnect counted if registered
/// </code>
/// </summary>
public sealed partial class PeerConnection : IPeerConnection, IBatchedPeer
{
    private readonly PipeReader? _input;
    private readonly PipeWriter? _output;
    private readonly PlatformSocket? _platform;
    private readonly Action _abort;
    private readonly PeerConnectionServices _services;
    private readonly PeerRouter _router;
    private readonly ILogger _logger;
    private readonly ClientSocketLimiter.Slot _slot;
    private readonly Lock _gate = new();
    private readonly SendBatch _sends = new(); // the receive loop's, reused read after read
    private static long s_nextConnectionId;

    private Queue<Outgoing>? _queue;
    private int _draining;
    private int _flushPending;
    private int _closing;
    private int _closeTimerArmed;
    private long _lastHeartbeat;
    private volatile bool _receiveEnded;
    private volatile bool _peerClosed;

    // Guarded by _gate.
    private bool _finishing;
    private bool _closeWritten;
    private bool _outputFinished;
    private TaskCompletionSource? _outputFinishedSignal;
    private WebSocketCloseStatus _closeStatus = WebSocketCloseStatus.NormalClosure;
    private string? _closeDescription;
    private long _queuedBytes; // in _queue and the pending pong
    private long _unflushedBytes; // written to the output, its flush not yet completed
    private byte[]? _pong; // the pending pong's payload (at most one pong waits)
    private int _pongLength = NoPong;

    private const int NoPong = -1;

    /// <param name="socket">The accepted upgrade's pipes and how to abort it.</param>
    /// <param name="id">The id the client asked for.</param>
    /// <param name="token">The client's token.</param>
    /// <param name="remoteIp">The client's IP, for logs.</param>
    /// <param name="slot">The per-IP socket slot this connection holds until it ends.</param>
    /// <param name="services">Shared by every connection.</param>
    public PeerConnection(AcceptedSocket socket, string id, string token, string remoteIp, ClientSocketLimiter.Slot slot, PeerConnectionServices services)
    {
        _input = socket.Transport?.Input;
        _output = socket.Transport?.Output;
        _platform = socket.Platform;
        _abort = socket.Abort;
        Id = id;
        Token = token;
        RemoteIp = remoteIp;
        _slot = slot;
        _services = services;
        _router = services.Router;
        _logger = services.Logger;
    }

    private int MaxMessageBytes => _services.Settings.MaxMessageBytes;

    /// <summary>
    /// What a closing client may still send (data messages, skipped unread) before its socket is cut instead of
    /// waiting for its close frame: four of the largest messages, what a client that was mid-burst has in flight.
    /// </summary>
    private long SkippedBytesBudget => 4L * MaxMessageBytes;

    private TimeSpan CloseTimeout => _services.Settings.CloseTimeout;

    public string Id { get; }

    public string Token { get; }

    public string RemoteIp { get; }

    /// <summary>Set once the id was claimed: the connection counts as an open peer in metrics and logs.</summary>
    public bool IsRegistered { get; private set; }

    public long ConnectionId { get; } = Interlocked.Increment(ref s_nextConnectionId);

    public RouteOrder Order { get; } = new();

    public long LastHeartbeat
    {
        get => Volatile.Read(ref _lastHeartbeat);
        set => Volatile.Write(ref _lastHeartbeat, value);
    }

    /// <summary>Why the connection closed (meaningful once it has).</summary>
    public DisconnectReason CloseReason { get; private set; } = DisconnectReason.ClientClose;

    public bool IsClosing => Volatile.Read(ref _closing) != 0;

    public RelayRate RelayRate { get; } = new();

    /// <summary>
    /// Closes the connection. A peer closed for what it did (<see cref="DisconnectReason.SlowConsumer"/>,
    /// <see cref="DisconnectReason.RelayRateExceeded"/>) gets 1008 and at most <see cref="TransportSettings.CloseTimeout"/>
    /// to read it and answer; a slow consumer's queued frames are dropped at once (it would not read them in time).
    /// </summary>
    public void Close(DisconnectReason reason)
    {
        if (reason == DisconnectReason.Takeover && !IsClosing)
        {
            // The reason in the protocol's own terms, before the close frame: the peerjs client reports an ERROR's
            // text to the application (a close frame's reason it does not).
            TrySend(Protocol.ServerMessages.TakenOver);
        }

        var (status, description) = CloseStatusFor(reason);
        // Every close the server starts (policy, takeover, heartbeat, shutdown) ends the connection within the close
        // timeout, even when the client reads nothing and the close frame never gets out; answering the client's own
        // close needs no timer (its receive loop has ended and the end of the connection is bounded there).
        CloseWith(
            reason, status, description, release: true, abort: reason is DisconnectReason.Error,
            discardQueued: reason is DisconnectReason.SlowConsumer, boundByTimeout: reason is not DisconnectReason.ClientClose);
    }

    private void CloseWith(
        DisconnectReason reason,
        WebSocketCloseStatus status,
        string? description,
        bool release,
        bool abort,
        bool discardQueued = false,
        bool boundByTimeout = false)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        CloseReason = reason;
        lock (_gate)
        {
            _closeStatus = status;
            _closeDescription = description;
            if (discardQueued)
            {
                // Only the close frame is left to write; what is already in the output goes first.
                _queue?.Clear();
                _pongLength = NoPong;
                _queuedBytes = 0;
            }
        }

        if (abort)
        {
            // A pending send may never finish: aborting the connection fails it.
            _abort();
        }
        else if (boundByTimeout)
        {
            // The close frame may wait behind output the client does not read, and the client may never answer it:
            // either way the connection ends after the close timeout.
            ArmCloseTimeout();
        }

        if (!release)
        {
            FinishOutput();
            return;
        }

        // Free the id before the close frame goes out: once a client sees its socket closed, its id is claimable
        // on every replica. Nothing new is accepted meanwhile (TrySend sees the closing flag).
        var released = _router.ReleaseAsync(this);
        if (released.IsCompletedSuccessfully)
        {
            FinishOutput();
        }
        else
        {
            _ = FinishAfterAsync(released);
        }
    }

    private async Task FinishAfterAsync(ValueTask released)
    {
        try
        {
            await released;
        }
        finally
        {
            FinishOutput();
        }
    }

    /// <summary>What is queued goes out, then the close frame.</summary>
    private void FinishOutput()
    {
        lock (_gate)
        {
            _finishing = true;
        }

        Flush();
    }

    /// <summary>
    /// Sends one in-band rejection (ERROR / ID-TAKEN) and closes (1000). With <paramref name="awaitClientClose"/> it
    /// then waits (bounded) for the client's close frame, as a close handshake should; without, the connection ends as
    /// soon as the frames are out, so a refused socket gives its file descriptor back at once (refusals at the
    /// concurrent limit, when descriptors may be running short). The connection was never registered.
    /// </summary>
    public Task RejectAsync(ReadOnlyMemory<byte> frame, bool awaitClientClose = true)
    {
        if (!awaitClientClose)
        {
            _receiveEnded = true; // no wait for the client's close frame
        }

        lock (_gate)
        {
            (_queue ??= new Queue<Outgoing>()).Enqueue(new Outgoing(frame, FrameOpcode.Text));
            _queuedBytes += frame.Length;
        }

        // The reference closes without a status code; browsers reject the reserved 1005 on the wire, so a normal
        // closure it is.
        CloseWith(DisconnectReason.ClientClose, WebSocketCloseStatus.NormalClosure, null, release: false, abort: false);
        return awaitClientClose ? RunAsync() : EndAsync();
    }

    /// <summary>Marks the connection as an open peer (its id is claimed): counted and logged as such until it ends.</summary>
    public void Registered()
    {
        IsRegistered = true;
        _services.Metrics.PeerOpened();
        Log.PeerConnected(_logger, Id, RemoteIp);
    }

    // One timer per connection, however many paths ask for it.
    private void ArmCloseTimeout()
    {
        if (Interlocked.Exchange(ref _closeTimerArmed, 1) == 0)
        {
            _ = AbortIfStillOpenAsync();
        }
    }

    private async Task AbortIfStillOpenAsync()
    {
        await Task.Delay(CloseTimeout);
        if (!_receiveEnded)
        {
            _abort();
        }
    }

    private static (WebSocketCloseStatus Status, string? Description) CloseStatusFor(DisconnectReason reason) => reason switch
    {
        DisconnectReason.ClientClose => (WebSocketCloseStatus.NormalClosure, null),
        DisconnectReason.Takeover => (WebSocketCloseStatus.NormalClosure, "Superseded by a newer connection"),
        DisconnectReason.HeartbeatTimeout => (WebSocketCloseStatus.NormalClosure, "No heartbeat"),
        DisconnectReason.MessageTooBig => (WebSocketCloseStatus.MessageTooBig, "Message too big"),
        DisconnectReason.Shutdown => (WebSocketCloseStatus.EndpointUnavailable, "Server shutting down"),
        DisconnectReason.SlowConsumer => (WebSocketCloseStatus.PolicyViolation, "Send queue over budget"),
        DisconnectReason.RelayRateExceeded => (WebSocketCloseStatus.PolicyViolation, "Relay rate exceeded"),
        _ => (WebSocketCloseStatus.InternalServerError, null),
    };

    private readonly record struct Outgoing(ReadOnlyMemory<byte> Payload, FrameOpcode Opcode);
}

/// <summary>Transport limits, resolved once from the options.</summary>
/// <param name="MaxMessageBytes">Largest accepted client message.</param>
/// <param name="SendQueueCapacity">Frames that may wait for one peer.</param>
/// <param name="SendQueueBytes">Bytes that may wait for one peer (pending pong included).</param>
/// <param name="CloseTimeout">How long a closing connection may take to get its close frame out and be answered.</param>
public sealed record TransportSettings(int MaxMessageBytes, int SendQueueCapacity, int SendQueueBytes, TimeSpan CloseTimeout);

/// <summary>What every <see cref="PeerConnection"/> shares (one instance per process).</summary>
public sealed record PeerConnectionServices(PeerRouter Router, TransportSettings Settings, SignalingMetrics Metrics, ILogger Logger);
