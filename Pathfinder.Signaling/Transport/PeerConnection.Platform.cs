using System.Buffers;
using System.Net.WebSockets;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// The bench's comparison: the same receive loop and send queue on .NET's WebSocket (<see cref="PlatformSocket"/>)
/// instead of our RFC 6455 reader and writer. Pings are answered by the platform itself.
/// </summary>
public sealed partial class PeerConnection
{
    private async Task RunPlatformAsync(PlatformSocket platform)
    {
        var socket = platform.WebSocket;
        try
        {
            while (true)
            {
                // Idle peers hold no receive buffer: a zero-byte receive waits for the next frame's header.
                var head = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                if (head.MessageType == WebSocketMessageType.Close)
                {
                    _peerClosed = true;
                    Close(DisconnectReason.ClientClose);
                    break;
                }

                var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(MaxMessageBytes + 1, 4096));
                var length = 0;
                var end = head.EndOfMessage;
                var closed = false;
                try
                {
                    while (!end)
                    {
                        if (length == buffer.Length)
                        {
                            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(MaxMessageBytes + 1, buffer.Length * 2));
                            buffer.AsSpan(0, length).CopyTo(larger);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = larger;
                        }

                        var read = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                        if (read.MessageType == WebSocketMessageType.Close)
                        {
                            _peerClosed = closed = true;
                            Close(DisconnectReason.ClientClose);
                            break;
                        }

                        length += read.Count;
                        end = read.EndOfMessage;
                        if (length > MaxMessageBytes)
                        {
                            Log.MessageTooBig(_logger, Id, MaxMessageBytes);
                            Close(DisconnectReason.MessageTooBig);
                            length = 0; // the rest is read and dropped (closing: nothing is relayed)
                        }
                    }

                    if (closed)
                    {
                        break;
                    }

                    if (!IsClosing)
                    {
                        var relay = OnMessage(buffer.AsSpan(0, length), _sends);
                        if (!relay.IsCompletedSuccessfully)
                        {
                            _sends.Flush();
                            await relay;
                        }
                    }
                }
                finally
                {
                    _sends.Flush();
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or InvalidOperationException)
        {
            if (!IsClosing)
            {
                Log.ConnectionError(_logger, Id, ex);
                Close(DisconnectReason.Error);
            }
        }
        finally
        {
            await EndAsync();
        }
    }

    // Runs with _draining == 1, as Drain: the frames queued so far, corked into one flush.
    private async Task DrainPlatformAsync(PlatformSocket platform)
    {
        var socket = platform.WebSocket;
        try
        {
            while (true)
            {
                Outgoing[]? frames = null;
                var count = 0;
                var closeNow = false;
                long written = 0;
                WebSocketCloseStatus status = default;
                string? description = null;
                lock (_gate)
                {
                    if (_queue is { Count: > 0 } queue)
                    {
                        frames = ArrayPool<Outgoing>.Shared.Rent(queue.Count);
                        while (queue.TryDequeue(out var frame))
                        {
                            frames[count++] = frame;
                            written += frame.Payload.Length;
                        }
                    }

                    _queuedBytes -= written;
                    _unflushedBytes += written;
                    if (_finishing && !_closeWritten)
                    {
                        _closeWritten = closeNow = true;
                        status = _closeStatus;
                        description = _closeDescription;
                    }
                }

                if (count > 0 || closeNow)
                {
                    await platform.CorkAsync();
                    try
                    {
                        for (var i = 0; i < count; i++)
                        {
                            await socket.SendAsync(frames![i].Payload, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
                        }
                    }
                    finally
                    {
                        if (frames is not null)
                        {
                            ArrayPool<Outgoing>.Shared.Return(frames, clearArray: true);
                        }
                    }

                    if (closeNow)
                    {
                        await socket.CloseOutputAsync(status, description, CancellationToken.None);
                    }

                    await platform.FlushAsync();
                    Flushed(written);
                    if (closeNow)
                    {
                        OutputFinished();
                        if (!_receiveEnded && !_peerClosed)
                        {
                            ArmCloseTimeout();
                        }

                        return;
                    }
                }

                Volatile.Write(ref _draining, 0);
                lock (_gate)
                {
                    if (_queue is not { Count: > 0 } && !(_finishing && !_closeWritten))
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
        catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            OutputGone();
        }
    }
}
