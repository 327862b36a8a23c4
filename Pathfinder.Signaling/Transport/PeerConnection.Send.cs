using System.IO.Pipelines;
using System.Net.WebSockets;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Transport;

/// <summary>The send queue: bounded in frames and bytes, written and flushed by whichever thread finds it idle, or at the end of a batch.</summary>
public sealed partial class PeerConnection
{
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

    // Over its send-queue budget: logged with what was queued, then closed as a slow consumer.
    private void OverBudget(long queuedBytes, int queuedFrames)
    {
        if (IsClosing)
        {
            return;
        }

        var settings = _services.Settings;
        Log.SendQueueOverBudget(_logger, PeerIdRules.ForLog(Id)!, queuedBytes, queuedFrames, settings.SendQueueBytes, settings.SendQueueCapacity);
        Close(DisconnectReason.SlowConsumer);
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
            if (_platform is null)
            {
                Drain(_output!);
            }
            else
            {
                _ = DrainPlatformAsync(_platform);
            }
        }
    }

    // Runs with _draining == 1: the only writer of the output.
    private void Drain(PipeWriter output)
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
                            WebSocketFrameWriter.Write(output, frame.Opcode, frame.Payload.Span);
                            written += frame.Payload.Length;
                        }

                        wrote = true;
                    }

                    // The pong goes after the frames queued before its ping (OPEN, for a ping sent with the upgrade);
                    // frames queued after the ping may precede it, which RFC 6455 allows for control frames.
                    if (_pongLength != NoPong)
                    {
                        WebSocketFrameWriter.Write(output, FrameOpcode.Pong, _pong.AsSpan(0, _pongLength));
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
                    WebSocketFrameWriter.WriteClose(output, status, description);
                }

                if (wrote || closeNow)
                {
                    var flush = output.FlushAsync();
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

        Drain(_output!);
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
}
