using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Pathfinder.Signaling.Transport.Epoll;

/// <summary>
/// One accepted TCP connection on an <see cref="EpollLoop"/>, as Kestrel sees it (a <see cref="ConnectionContext"/>
/// with pipes). Reading happens on the loop thread only: one <c>recv</c> per readiness into the input pipe, whose
/// reader (Kestrel or the PeerJS connection) runs inline. Sending happens wherever the application flushes: the
/// output pipe's reader runs inline too and writes with <c>sendmsg</c>; only when the socket's buffer is full does it
/// fall back to an awaited <see cref="Socket.SendAsync(ReadOnlyMemory{byte}, SocketFlags, CancellationToken)"/>.
/// Closing follows Kestrel's socket transport: when the application has completed its output (or aborts), the
/// socket is shut down both ways, the loop then sees the end of input, and disposal closes it.
/// </summary>
internal sealed class EpollConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature,
    IConnectionEndPointFeature, IMemoryPoolFeature, IConnectionSocketFeature
{
    private const int MaxReadsPerTurn = 16;
    private static long s_ids;

    private readonly Socket _socket;
    private readonly SafeSocketHandle _handle;
    private readonly EpollLoop _loop;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly CancellationToken _closedToken;
    private readonly TaskCompletionSource _inputDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action _resumeReading;
    private Task _sending = Task.CompletedTask;
    private System.Runtime.CompilerServices.ValueTaskAwaiter<FlushResult> _pausedFlush;
    private bool _readPaused;
    private bool _reading = true;
    private bool _atEnd;
    private bool _yielded;
    private bool _sendWaiting;
    private int _aborted;
    private int _shutdown;
    private ConnectionAbortedException? _abortReason;
    private IDictionary<object, object?>? _items;

    public EpollConnection(Socket socket, EpollLoop loop, MemoryPool<byte> pool)
    {
        _socket = socket;
        _handle = socket.SafeHandle;
        _loop = loop;
        Fd = (int)_handle.DangerousGetHandle();
        MemoryPool = pool;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionId = "E" + Interlocked.Increment(ref s_ids).ToString("X", System.Globalization.CultureInfo.InvariantCulture);

        // Both pipes run their continuations inline: the application reacts on the loop thread, and a flush sends at once.
        _input = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline, 1024 * 1024, 512 * 1024, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline, 64 * 1024, 32 * 1024, useSynchronizationContext: false));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        _resumeReading = () => _loop.Resume(this);
        _closedToken = _closed.Token;

        var features = new FeatureCollection();
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionEndPointFeature>(this);
        features.Set<IMemoryPoolFeature>(this);
        features.Set<IConnectionSocketFeature>(this);
        Features = features;
    }

    public int Fd { get; }

    /// <summary>True while a send waits for room in the socket's buffer (the client reads slowly or not at all).</summary>
    internal bool SendWaiting => Volatile.Read(ref _sendWaiting);

    /// <summary>True while reading waits for the application to consume input (the input pipe is full).</summary>
    internal bool ReadPaused => Volatile.Read(ref _readPaused);

    /// <summary>The loop's key for this connection's events.</summary>
    public ulong Token { get; set; }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closedToken;
        set => throw new NotSupportedException("ConnectionClosed is owned by the transport");
    }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public MemoryPool<byte> MemoryPool { get; }

    public Socket Socket => _socket;

    public void Start()
    {
        _sending = SendLoopAsync();
        _loop.Add(this);
    }

    // ------------------------------------------------------------------ input (loop thread only)

    /// <summary>The socket is readable (or at its end): reads it into the input pipe.</summary>
    public void OnReadable(uint events)
    {
        // The peer's end (or an error) raises no later edge of its own: read until recv says so, even after a short read.
        _atEnd |= (events & (EpollNative.EpollRdHup | EpollNative.EpollHup | EpollNative.EpollErr)) != 0;
        if (_reading && !_readPaused)
        {
            Receive();
        }
    }

    /// <summary>The application caught up after the input pipe was full, or this connection yielded its turn: read on.</summary>
    public void OnResume()
    {
        if (_yielded)
        {
            _yielded = false;
            if (_reading && !_readPaused)
            {
                Receive();
            }

            return;
        }

        if (!_readPaused)
        {
            return;
        }

        var pending = _pausedFlush;
        if (!pending.IsCompleted)
        {
            return; // not this flush's resumption
        }

        var flushed = pending.GetResult();
        _readPaused = false;
        _pausedFlush = default;
        if (flushed.IsCompleted || flushed.IsCanceled)
        {
            StopReading(null);
            return;
        }

        // Edge-triggered: what arrived meanwhile raised no new event.
        Receive();
    }

    private unsafe void Receive()
    {
        var writer = _input.Writer;
        for (var reads = 0; ; reads++)
        {
            if (reads == MaxReadsPerTurn)
            {
                // A client streaming faster than we read would hold the thread: let the others have their turn.
                _yielded = true;
                _loop.Resume(this);
                return;
            }

            var memory = writer.GetMemory(4096);
            nint received;
            var errno = 0;
            var added = false;
            try
            {
                _handle.DangerousAddRef(ref added);
                fixed (byte* buffer = memory.Span)
                {
                    received = EpollNative.recv(Fd, buffer, (nuint)memory.Length, 0);
                }

                if (received < 0)
                {
                    errno = Marshal.GetLastPInvokeError();
                }
            }
            catch (ObjectDisposedException)
            {
                StopReading(null);
                return;
            }
            finally
            {
                if (added)
                {
                    _handle.DangerousRelease();
                }
            }

            if (received > 0)
            {
                writer.Advance((int)received);
                // Consumed exactly once: here when done, else in OnResume after the completion callback.
#pragma warning disable CA2012
                var flush = writer.FlushAsync().GetAwaiter();
#pragma warning restore CA2012
                if (!flush.IsCompleted)
                {
                    // The reader is behind (pipe full): stop reading until it catches up.
                    _readPaused = true;
                    _pausedFlush = flush;
                    flush.UnsafeOnCompleted(_resumeReading);
                    return;
                }

                var flushed = flush.GetResult();
                if (flushed.IsCompleted || flushed.IsCanceled || !_reading)
                {
                    StopReading(null);
                    return;
                }

                if (received < memory.Length && !_atEnd)
                {
                    return; // drained: the next arrival raises a new edge
                }

                continue;
            }

            if (received == 0)
            {
                StopReading(null);
                return;
            }

            switch (errno)
            {
                case EpollNative.EAgain:
                    return;
                case EpollNative.EIntr:
                    continue;
                default:
                    StopReading(new ConnectionResetException($"recv failed: {Marshal.GetPInvokeErrorMessage(errno)}"));
                    return;
            }
        }
    }

    private void StopReading(Exception? error)
    {
        if (!_reading)
        {
            return;
        }

        _reading = false;
        _input.Writer.Complete(_abortReason ?? error);
        ThreadPool.UnsafeQueueUserWorkItem(static c => c.FireClosed(), this, preferLocal: false);
    }

    // ConnectionClosed fires on the thread pool (never under a caller's locks); disposal waits for it.
    private void FireClosed()
    {
        CancelClosed();
        _inputDone.TrySetResult();
    }

    private void CancelClosed()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception ex)
        {
            EpollLog.ClosedCallbackFailed(_loop.Logger, ex);
        }
    }

    // ------------------------------------------------------------------ output (any thread, one at a time)

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    var sent = SendNow(buffer);
                    if (sent < 0)
                    {
                        error = new ConnectionResetException($"send failed: {Marshal.GetPInvokeErrorMessage(-(int)sent)}");
                        break;
                    }

                    if (sent < buffer.Length)
                    {
                        // The socket's buffer is full (a slow reader): let the runtime wait for room.
                        Volatile.Write(ref _sendWaiting, true);
                        foreach (var segment in buffer.Slice(sent))
                        {
                            await _socket.SendAsync(segment, SocketFlags.None);
                        }

                        Volatile.Write(ref _sendWaiting, false);
                    }
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            error = ex;
        }
        finally
        {
            await reader.CompleteAsync(error);
            Shutdown();
            // A read paused on a full input pipe would otherwise wait for the application: end it too.
            _input.Writer.CancelPendingFlush();
        }
    }

    /// <summary>Bytes sent without waiting (may be fewer than asked when the socket is full), or −errno.</summary>
    private long SendNow(in ReadOnlySequence<byte> buffer)
    {
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            return buffer.IsSingleSegment ? SendOne(buffer.FirstSpan) : SendMany(buffer);
        }
        catch (ObjectDisposedException)
        {
            return -EpollNative.EBadF;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    private unsafe long SendOne(ReadOnlySpan<byte> span)
    {
        long total = 0;
        fixed (byte* start = span)
        {
            while (total < span.Length)
            {
                var vector = new EpollNative.IoVector { Base = start + total, Length = (nuint)(span.Length - total) };
                var sent = SendVectors(&vector, 1);
                if (sent <= 0)
                {
                    return sent < 0 ? sent : total;
                }

                total += sent;
            }
        }

        return total;
    }

    private unsafe long SendMany(in ReadOnlySequence<byte> buffer)
    {
        long total = 0;
        var length = buffer.Length;
        var vectors = stackalloc EpollNative.IoVector[EpollNative.MaxIov];
        var pins = new MemoryHandle[EpollNative.MaxIov];
        while (total < length)
        {
            var count = 0;
            long batch = 0;
            foreach (var segment in buffer.Slice(total))
            {
                if (segment.IsEmpty)
                {
                    continue;
                }

                pins[count] = segment.Pin();
                vectors[count] = new EpollNative.IoVector { Base = (byte*)pins[count].Pointer, Length = (nuint)segment.Length };
                batch += segment.Length;
                if (++count == EpollNative.MaxIov)
                {
                    break;
                }
            }

            try
            {
                var sent = SendVectors(vectors, count);
                if (sent <= 0)
                {
                    return sent < 0 ? sent : total;
                }

                total += sent;
                if (sent < batch)
                {
                    return total; // the socket took less: it is full
                }
            }
            finally
            {
                for (var i = 0; i < count; i++)
                {
                    pins[i].Dispose();
                }
            }
        }

        return total;
    }

    /// <summary>One <c>sendmsg</c> (retried on EINTR): bytes sent, 0 when the socket is full, or −errno.</summary>
    private unsafe long SendVectors(EpollNative.IoVector* vectors, int count)
    {
        var message = new EpollNative.MessageHeader { Iov = vectors, IovLength = (nuint)count };
        while (true)
        {
            var sent = EpollNative.sendmsg(Fd, &message, EpollNative.MsgNoSignal);
            if (sent >= 0)
            {
                return sent;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno != EpollNative.EIntr)
            {
                return errno == EpollNative.EAgain ? 0 : -errno;
            }
        }
    }

    // ------------------------------------------------------------------ lifetime

    private void Shutdown()
    {
        if (Interlocked.Exchange(ref _shutdown, 1) != 0)
        {
            return;
        }

        try
        {
            // Both ways, as Kestrel's socket transport does; the loop then reads the end and completes the input.
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        _abortReason = abortReason;
        _output.Reader.CancelPendingRead();
        _input.Writer.CancelPendingFlush();
        Shutdown();
        ThreadPool.UnsafeQueueUserWorkItem(static c => c.CancelClosed(), this, preferLocal: false);
    }

    public override async ValueTask DisposeAsync()
    {
        try
        {
            // The application's ends: completing them ends the send loop, which shuts the socket down.
            await _input.Reader.CompleteAsync();
            await _output.Writer.CompleteAsync();
            await _sending;
            Shutdown();
            await _inputDone.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or InvalidOperationException)
        {
            // The loop never saw the end of input, or the send loop failed oddly: close anyway (its events are ignored).
        }
        finally
        {
            _loop.Remove(this);
            _socket.Dispose();
            _closed.Dispose();
        }

        await base.DisposeAsync();
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
