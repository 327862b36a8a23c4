using System.IO.Pipelines;
using System.Net.WebSockets;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Transport;

/// <summary>The receive loop: frames in, messages to the router, control frames answered (see the lifecycle in PeerConnection.cs).</summary>
public sealed partial class PeerConnection
{
    /// <summary>Runs the connection until it closes: reads frames, hands messages to the router, then closes.</summary>
    public Task RunAsync() => _platform is null ? RunOwnAsync(_input!) : RunPlatformAsync(_platform);

    private async Task RunOwnAsync(PipeReader input)
    {
        var frames = new WebSocketFrameReader(MaxMessageBytes);
        var skipping = false;
        try
        {
            while (true)
            {
                // Idle peers hold no receive buffer.
                frames.ReleaseIdleBuffers();
                var result = await input.ReadAsync();
                var buffer = result.Buffer;
                var stop = false;
                var batch = _sends;
                try
                {
                    while (!stop)
                    {
                        if (!skipping && IsClosing)
                        {
                            // Nothing reads its messages any more: skip them unread, until the client's close arrives.
                            frames.SkipDataMessages();
                            skipping = true;
                        }

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

                input.AdvanceTo(buffer.Start, buffer.End);
                if (stop || result.IsCompleted || result.IsCanceled)
                {
                    break;
                }

                if (frames.SkippedBytes > SkippedBytesBudget)
                {
                    // Told to close, it keeps sending instead of answering: cut it rather than read on.
                    _abort();
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
        if (_input is not null && _output is not null)
        {
            await _input.CompleteAsync();
            await _output.CompleteAsync();
        }

        _platform?.WebSocket.Dispose();
        _slot.Dispose();
        if (IsRegistered)
        {
            _services.Metrics.PeerClosed(CloseReason.Name());
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
}
