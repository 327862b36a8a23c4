using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// The bench's comparison framing (issue 15, "platform first"): a <see cref="PeerConnection"/> on .NET's own
/// WebSocket instead of <see cref="WebSocketFrameReader"/>/<see cref="WebSocketFrameWriter"/> — made with
/// <see cref="WebSocket.CreateFromStream(Stream, WebSocketCreationOptions)"/> over the fast path's pipes
/// (<see cref="OverPipes"/>, output corked per batch as with our framing), or accepted by ASP.NET Core's WebSocket
/// middleware on the pipeline path. Chosen with the environment variable <see cref="Variable"/> = <c>platform</c>
/// (bench only; see docs/performance.md).
/// </summary>
public sealed class PlatformSocket
{
    /// <summary><c>PATHFINDER_BENCH_FRAMING</c>: <c>platform</c> runs every socket on .NET's WebSocket.</summary>
    public const string Variable = "PATHFINDER_BENCH_FRAMING";

    private readonly CorkedPipeStream? _stream;

    private PlatformSocket(WebSocket socket, CorkedPipeStream? stream)
    {
        WebSocket = socket;
        _stream = stream;
    }

    /// <summary>Whether this process runs its sockets on the platform's WebSocket.</summary>
    public static bool Chosen { get; } =
        string.Equals(Environment.GetEnvironmentVariable(Variable), "platform", StringComparison.OrdinalIgnoreCase);

    public WebSocket WebSocket { get; }

    /// <summary>A server WebSocket over an upgraded connection's pipes (the 101 already written to them).</summary>
    public static PlatformSocket OverPipes(IDuplexPipe pipes)
    {
        var stream = new CorkedPipeStream(pipes);
        var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        return new PlatformSocket(socket, stream);
    }

    /// <summary>A WebSocket accepted by ASP.NET Core (it writes and flushes each frame itself).</summary>
    public static PlatformSocket Accepted(WebSocket socket) => new(socket, null);

    /// <summary>Holds the frames written from now on in the pipe until <see cref="FlushAsync"/>.</summary>
    public ValueTask CorkAsync() => _stream?.CorkAsync() ?? ValueTask.CompletedTask;

    /// <summary>Sends what the cork held.</summary>
    public ValueTask FlushAsync() => _stream?.UncorkAsync() ?? ValueTask.CompletedTask;

    /// <summary>
    /// A stream over the connection's pipes. Writes go into the pipe and are flushed at once unless corked; the
    /// WebSocket's own writes (pongs from its receive side) and the send queue's are serialised by one gate, so the
    /// pipe never sees two writers.
    /// </summary>
    private sealed class CorkedPipeStream(IDuplexPipe pipes) : Stream
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private bool _corked;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public async ValueTask CorkAsync()
        {
            await _gate.WaitAsync();
            _corked = true;
            _gate.Release();
        }

        public async ValueTask UncorkAsync()
        {
            await _gate.WaitAsync();
            try
            {
                _corked = false;
                await FlushPipeAsync();
            }
            finally
            {
                _gate.Release();
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var result = await pipes.Input.ReadAsync(cancellationToken);
            var available = result.Buffer;
            if (buffer.IsEmpty || available.IsEmpty)
            {
                // A zero-byte read waits for data without taking any; an empty completed read is the end.
                pipes.Input.AdvanceTo(available.Start);
                return 0;
            }

            var take = (int)Math.Min(available.Length, buffer.Length);
            var slice = available.Slice(0, take);
            slice.CopyTo(buffer.Span);
            pipes.Input.AdvanceTo(slice.End);
            return take;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await _gate.WaitAsync(cancellationToken);
            try
            {
                pipes.Output.Write(buffer.Span);
                if (!_corked)
                {
                    await FlushPipeAsync();
                }
            }
            finally
            {
                _gate.Release();
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        private async ValueTask FlushPipeAsync()
        {
            var flushed = await pipes.Output.FlushAsync();
            if (flushed.IsCompleted || flushed.IsCanceled)
            {
                throw new IOException("The connection's output is closed.");
            }
        }
    }
}
