using System.IO.Pipelines;
using System.Net.WebSockets;
using Pathfinder.Signaling.Protocol;
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
/// </summary>
public sealed class PeerConnection : IPeerConnection, IBatchedPeer
{
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
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
        _input = socket.Transport.Input;
        _output = socket.Transport.Output;
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

    /// <summary>Bytes waiting to be written to this peer (queued, or written and not yet flushed); never negative.</summary>
    public long QueuedBytes
    {
        get
        {
            lock (_gate)
            {
                return _queuedBytes + _unflushedBytes;
            }
        }
    }

    public bool TrySend(ReadOnlyMemory<byte> frame, SendBatch? batch = null)
    {
        if (IsClosing)
        {
            return false;
        }

        bool full;
        long queuedBytes;
        int queuedFrames;
        lock (_gate)
        {
            if (_finishing)
            {
                return false;
            }

            var queue = _queue ??= new Queue<Outgoing>();
            queuedBytes = _queuedBytes + _unflushedBytes;
            queuedFrames = queue.Count;
            // A frame always fits into an empty queue: the budget is at least MaxMessageBytes, and a relayed
            // message's frame is a little larger than the message.
            full = queuedFrames >= _services.Settings.SendQueueCapacity
                || (queuedBytes > 0 && queuedBytes + frame.Length > _services.Settings.SendQueueBytes);
            if (!full)
            {
                queue.Enqueue(new Outgoing(frame, FrameOpcode.Text));
                _queuedBytes += frame.Length;
            }
        }

        if (full)
        {
            OverBudget(queuedBytes + frame.Length, queuedFrames + 1);
            return false;
        }

        FlushOrDefer(batch);
        return true;
    }

    /// <summary>
    /// Closes the connection. A peer closed for what it did (<see cref="DisconnectReason.SlowConsumer"/>,
    /// <see cref="DisconnectReason.RelayRateExceeded"/>) gets 1008 and at most <see cref="TransportSettings.CloseTimeout"/>
    /// to read it and answer; a slow consumer's queued frames are dropped at once (it would not read them in time).
    /// </summary>
    public void Close(DisconnectReason reason)
    {
        var (status, description) = CloseStatusFor(reason);
        // Every close the server starts (policy, takeover, heartbeat, shutdown) ends the connection within the close
        // timeout, even when the client reads nothing and the close frame never gets out; answering the client's own
        // close needs no timer (its receive loop has ended and the end of the connection is bounded there).
        CloseWith(
            reason, status, description, release: true, abort: reason is DisconnectReason.Error,
            discardQueued: reason is DisconnectReason.SlowConsumer, boundByTimeout: reason is not DisconnectReason.ClientClose);
    }

    // Over its send-queue budget: logged with what was queued, then closed as a slow consumer.
    private void OverBudget(long queuedBytes, int queuedFrames)
    {
        if (IsClosing)
        {
            return;
        }

        var settings = _services.Settings;
        Log.SendQueueOverBudget(_logger, LogText.Escape(Id), queuedBytes, queuedFrames, settings.SendQueueBytes, settings.SendQueueCapacity);
        Close(DisconnectReason.SlowConsumer);
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

    /// <summary>Runs the connection until it closes: reads frames, hands messages to the router, then closes.</summary>
    public async Task RunAsync()
    {
        var frames = new WebSocketFrameReader(MaxMessageBytes);
        try
        {
            while (true)
            {
                // Idle peers hold no receive buffer.
                frames.ReleaseIdleBuffers();
                var result = await _input.ReadAsync();
                var buffer = result.Buffer;
                var stop = false;
                var batch = _sends;
                try
                {
                    while (!stop)
                    {
                        var next = frames.Read(ref buffer);
                        if (next.Kind == FrameEventKind.NeedMoreData)
                        {
                            break;
                        }

                        if (next.Kind == FrameEventKind.Message)
                        {
                            if (IsClosing)
                            {
                                continue;
                            }

                            var relay = OnMessage(next.Payload.Span, batch);
                            if (!relay.IsCompletedSuccessfully)
                            {
                                // Nothing waits behind the relay: flush what this batch holds first.
                                batch.Flush();
                                await relay;
                            }

                            continue;
                        }

                        stop = OnControl(in next, batch);
                    }
                }
                finally
                {
                    batch.Flush();
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                if (stop || result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
            if (!IsClosing)
            {
                Log.ConnectionError(_logger, Id, ex);
                Close(DisconnectReason.Error);
            }
        }
        finally
        {
            frames.ReleaseIdleBuffers();
            await EndAsync();
        }
    }

    // After the last read: close (if not yet), let the close frame out (bounded), release the pipes and the slot.
    private async Task EndAsync()
    {
        _receiveEnded = true;
        Close(DisconnectReason.ClientClose);
        await WaitForOutputAsync();
        await _input.CompleteAsync();
        await _output.CompleteAsync();
        _slot.Dispose();
        if (IsRegistered)
        {
            _services.Metrics.PeerClosed(CloseReason);
            Log.PeerDisconnected(_logger, Id, RemoteIp, CloseReason.Name());
        }
    }

    private async Task WaitForOutputAsync()
    {
        Task finished;
        lock (_gate)
        {
            if (_outputFinished)
            {
                return;
            }

            _outputFinishedSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            finished = _outputFinishedSignal.Task;
        }

        try
        {
            await finished.WaitAsync(CloseTimeout);
        }
        catch (TimeoutException)
        {
            // The client stopped reading: give up on the close frame.
            _abort();
        }
    }

    /// <summary>Handles a control event; true when reading should stop.</summary>
    private bool OnControl(in FrameEvent control, SendBatch batch)
    {
        switch (control.Kind)
        {
            case FrameEventKind.Ping:
                QueuePong(control.Payload.Span, batch);
                return false;
            case FrameEventKind.Close:
                // The client's close: answer it (Close writes our close frame once queued frames are out).
                _peerClosed = true;
                Close(DisconnectReason.ClientClose);
                return true;
            case FrameEventKind.MessageTooBig:
                Log.MessageTooBig(_logger, Id, MaxMessageBytes);
                Close(DisconnectReason.MessageTooBig);
                return false; // the rest of the message is skipped while we wait for the client's close
            case FrameEventKind.ProtocolError:
                Log.ConnectionError(_logger, Id, new WebSocketException(WebSocketError.Faulted, control.Description));
                // Our close frame carries the reason (1002 / 1007); no need to wait for the client's answer.
                _peerClosed = true;
                CloseWith(DisconnectReason.Error, control.CloseStatus, control.Description, release: true, abort: false);
                return true;
            default:
                return false;
        }
    }

    private ValueTask OnMessage(ReadOnlySpan<byte> frame, SendBatch batch)
    {
        if (!ClientMessage.TryParse(frame, out var message))
        {
            _services.Metrics.Malformed();
            Log.MalformedFrame(_logger, Id, frame.Length);
            return ValueTask.CompletedTask;
        }

        return _router.RelayAsync(this, in message, batch);
    }

    /// <summary>
    /// Answers a ping: its pong replaces one still waiting (RFC 6455 §5.5.3 lets an endpoint answer only the most
    /// recent ping), so a client that pings and never reads holds at most one pong here. It counts in the byte budget.
    /// </summary>
    private void QueuePong(ReadOnlySpan<byte> payload, SendBatch batch)
    {
        bool full;
        long queuedBytes;
        int queuedFrames;
        lock (_gate)
        {
            if (_finishing)
            {
                return;
            }

            if (_pongLength != NoPong)
            {
                _queuedBytes -= _pongLength;
            }

            payload.CopyTo(_pong ??= new byte[WebSocketFrameReader.MaxControlPayload]);
            _pongLength = payload.Length;
            _queuedBytes += payload.Length;
            queuedBytes = _queuedBytes + _unflushedBytes;
            queuedFrames = (_queue?.Count ?? 0) + 1;
            full = queuedBytes > _services.Settings.SendQueueBytes;
        }

        if (full)
        {
            OverBudget(queuedBytes, queuedFrames);
            return;
        }

        FlushOrDefer(batch);
    }

    /// <summary>Flushes now, or leaves it to <paramref name="batch"/>'s flush.</summary>
    private void FlushOrDefer(SendBatch? batch)
    {
        if (batch is null)
        {
            Flush();
        }
        else
        {
            batch.Defer(this);
        }
    }

    /// <summary>Called by <see cref="SendBatch"/>: true when this connection was not yet waiting for a batch flush.</summary>
    public bool MarkFlushPending() => Interlocked.Exchange(ref _flushPending, 1) == 0;

    /// <summary>Called by <see cref="SendBatch.Flush"/>.</summary>
    public void FlushDeferred()
    {
        Interlocked.Exchange(ref _flushPending, 0);
        Flush();
    }

    /// <summary>Writes and flushes what is queued, unless another thread is already doing so (it will pick it up).</summary>
    private void Flush()
    {
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
        {
            Drain();
        }
    }

    // Runs with _draining == 1: the only writer of _output.
    private void Drain()
    {
        try
        {
            while (true)
            {
                var wrote = false;
                var closeNow = false;
                long written = 0;
                WebSocketCloseStatus status = default;
                string? description = null;
                lock (_gate)
                {
                    if (_queue is { Count: > 0 } queue)
                    {
                        while (queue.TryDequeue(out var frame))
                        {
                            WebSocketFrameWriter.Write(_output, frame.Opcode, frame.Payload.Span);
                            written += frame.Payload.Length;
                        }

                        wrote = true;
                    }

                    // The pong goes after the frames queued before its ping (OPEN, for a ping sent with the upgrade);
                    // frames queued after the ping may precede it, which RFC 6455 allows for control frames.
                    if (_pongLength != NoPong)
                    {
                        WebSocketFrameWriter.Write(_output, FrameOpcode.Pong, _pong.AsSpan(0, _pongLength));
                        written += _pongLength;
                        _pongLength = NoPong;
                        wrote = true;
                    }

                    // Still counted until the flush completes: the output holds them meanwhile.
                    _queuedBytes -= written;
                    _unflushedBytes += written;

                    if (_finishing && !_closeWritten)
                    {
                        _closeWritten = closeNow = true;
                        status = _closeStatus;
                        description = _closeDescription;
                    }
                }

                if (closeNow)
                {
                    WebSocketFrameWriter.WriteClose(_output, status, description);
                }

                if (wrote || closeNow)
                {
                    var flush = _output.FlushAsync();
                    if (!flush.IsCompletedSuccessfully)
                    {
                        _ = DrainAfterFlushAsync(flush, closeNow, written);
                        return;
                    }

                    Flushed(written);
                    if (!AfterFlush(flush.Result, closeNow))
                    {
                        return;
                    }
                }

                Volatile.Write(ref _draining, 0);
                lock (_gate)
                {
                    if (_queue is not { Count: > 0 } && _pongLength == NoPong && !(_finishing && !_closeWritten))
                    {
                        return;
                    }
                }

                if (Interlocked.CompareExchange(ref _draining, 1, 0) != 0)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            OutputGone();
        }
    }

    private async Task DrainAfterFlushAsync(ValueTask<FlushResult> flush, bool closeWritten, long written)
    {
        try
        {
            var result = await flush;
            Flushed(written);
            if (!AfterFlush(result, closeWritten))
            {
                return;
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            OutputGone();
            return;
        }

        Drain();
    }

    // The flush that took these bytes completed: they no longer count (unless the output is gone and all was reset).
    private void Flushed(long written)
    {
        if (written == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (!_outputFinished)
            {
                _unflushedBytes -= written;
            }
        }
    }

    /// <summary>False when nothing more can be written.</summary>
    private bool AfterFlush(FlushResult result, bool closeWritten)
    {
        if (result.IsCompleted || result.IsCanceled)
        {
            OutputGone();
            return false;
        }

        if (closeWritten)
        {
            OutputFinished();
            if (!_receiveEnded && !_peerClosed)
            {
                // Do not wait forever for the client's answer to our close frame.
                ArmCloseTimeout();
            }

            return false;
        }

        return true;
    }

    // The socket cannot take more (closed by the client, aborted): nothing queued will be delivered.
    private void OutputGone()
    {
        if (!IsClosing)
        {
            Close(DisconnectReason.Error);
        }

        OutputFinished();
    }

    private void OutputFinished()
    {
        TaskCompletionSource? signal;
        lock (_gate)
        {
            _finishing = _closeWritten = _outputFinished = true;
            _queue = null;
            _pongLength = NoPong;
            _queuedBytes = _unflushedBytes = 0;
            signal = _outputFinishedSignal;
        }

        signal?.TrySetResult();
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
