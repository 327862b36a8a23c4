using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// Kestrel connection middleware that takes plain HTTP/1.1 WebSocket upgrades for <c>{path}/peerjs</c> straight off
/// the connection: it parses the request head (<see cref="UpgradeHeadParser"/>, within Kestrel's limits and the
/// AllowedHosts of host filtering, <see cref="UpgradeHeadLimits"/>), applies <see cref="UpgradePolicy"/> (the same
/// Origin allow-list, per-client rate limit and in-band rules as the HTTP pipeline), answers 101 itself and runs the
/// socket on the connection's own pipes. A connected peer then costs a socket, two pipes and its
/// <see cref="PeerConnection"/> — no HTTP request, context or middleware chain kept alive for the socket's lifetime, and
/// no stream adapters on every frame. Every other connection (the HTTP API, health, HTTP/2, proxied, unusual or
/// oversized requests) is handed to Kestrel's HTTP stack with its bytes untouched, so Kestrel and the pipeline answer
/// it exactly as they would without the fast path. The request-headers timeout is one budget for the whole head: what
/// the fast path spent reading is taken off what Kestrel gets (<see cref="UpgradeHeadDeadline"/>). Off with
/// <c>Signaling:UpgradeFastPath=false</c>.
/// </summary>
public sealed class PeerJsUpgradeFastPath
{
    public const string Setting = "Signaling:UpgradeFastPath";

    private readonly PeerJsSocketEndpoint _endpoint;
    private readonly UpgradePolicy _policy;
    private readonly byte[] _requestLinePrefix;
    private readonly byte[] _replicaHeader;
    private readonly KestrelServerLimits _kestrelLimits;
    private UpgradeHeadLimits _limits;

    public PeerJsUpgradeFastPath(
        PeerJsSocketEndpoint endpoint,
        ReplicaIdentity replica,
        Microsoft.Extensions.Options.IOptions<Configuration.SignalingOptions> options,
        Microsoft.Extensions.Options.IOptions<KestrelServerOptions> kestrel,
        Microsoft.Extensions.Options.IOptionsMonitor<HostFilteringOptions> hostFiltering)
    {
        _endpoint = endpoint;
        _policy = endpoint.Policy;
        _requestLinePrefix = UpgradeRequest.RequestLinePrefix(options.Value.NormalizedPath + "/peerjs");
        _replicaHeader = Encoding.ASCII.GetBytes($"{ReplicaIdentity.HeaderName}: {replica.Id}\r\n");
        _kestrelLimits = kestrel.Value.Limits;
        _limits = UpgradeHeadLimits.From(_kestrelLimits, hostFiltering.CurrentValue);
        hostFiltering.OnChange((changed, _) => Volatile.Write(ref _limits, UpgradeHeadLimits.From(_kestrelLimits, changed)));
    }

    public Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        if (_kestrelLimits.MaxConcurrentUpgradedConnections is not null)
        {
            // Kestrel counts upgraded connections against this limit itself; only its HTTP stack can.
            return next(connection);
        }

        var accepted = AcceptAsync(connection, next);
        return accepted.IsCompletedSuccessfully ? accepted.Result?.RunAsync() ?? Task.CompletedTask : RunAcceptedAsync(accepted);
    }

    // What lives as long as the socket: only this small frame and the peer. The head's parser, buffers and strings
    // belong to AcceptAsync's frame, which is done (and collectable) once the socket is open (memory per peer).
    private static async Task RunAcceptedAsync(ValueTask<PeerConnection?> accepted)
    {
        if (await accepted is { } peer)
        {
            await peer.RunAsync();
        }
    }

    /// <summary>Reads the head: the open connection when it was a PeerJS upgrade, null when refused or passed on (handled).</summary>
    private async ValueTask<PeerConnection?> AcceptAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var input = connection.Transport.Input;
        var started = Stopwatch.GetTimestamp();
        var headTimeout = _kestrelLimits.RequestHeadersTimeout;
        var parser = new UpgradeHeadParser(_requestLinePrefix, Volatile.Read(ref _limits));
        ReadResult read;
        UpgradeRequest? request;
        int headLength;
        var examinedAll = false;
        using (var timeout = new CancellationTokenSource(headTimeout))
        {
            while (true)
            {
                try
                {
                    read = await input.ReadAsync(timeout.Token);
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    // Kestrel's own request-headers timeout, applied to a head that never completed.
                    connection.Abort(new ConnectionAbortedException("Request headers timed out"));
                    return null;
                }
                catch (IOException)
                {
                    return null; // reset by the client before it said anything useful
                }

                var head = parser.Advance(read.Buffer, out request, out headLength);
                if (head == UpgradeHead.Incomplete && !read.IsCompleted && !read.IsCanceled)
                {
                    input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                    examinedAll = true;
                    continue;
                }

                if (head != UpgradeHead.Ours)
                {
                    if (examinedAll)
                    {
                        // One header timeout for the whole head: Kestrel gets what is left of it.
                        UpgradeHeadDeadline.Start(connection, headTimeout - Stopwatch.GetElapsedTime(started));
                    }

                    await PassOnAsync(connection, next, read, examinedAll);
                    return null;
                }

                break;
            }
        }

        input.AdvanceTo(read.Buffer.GetPosition(headLength));
        return await HandleUpgradeAsync(connection, request!);
    }

    private static Task PassOnAsync(ConnectionContext connection, ConnectionDelegate next, ReadResult read, bool examinedAll)
    {
        if (!examinedAll)
        {
            // Nothing consumed, nothing examined: Kestrel's first read sees the same bytes at once.
            connection.Transport.Input.AdvanceTo(read.Buffer.Start, read.Buffer.Start);
            return next(connection);
        }

        // The examined position cannot move back, so the next read would wait for new bytes: replay them instead.
        connection.Transport.Input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        connection.Transport = new ReplayingTransport(connection.Transport);
        return next(connection);
    }

    /// <summary>Refuses (403, 429) or accepts the upgrade; the registered connection, or null when refused.</summary>
    private async ValueTask<PeerConnection?> HandleUpgradeAsync(ConnectionContext connection, UpgradeRequest request)
    {
        var address = (connection.RemoteEndPoint as IPEndPoint)?.Address;
        var remoteIp = ClientAddress.Format(address);
        var client = _policy.Grouping.KeyOf(address);
        var output = connection.Transport.Output;

        if (_policy.BeforeUpgrade(request.Origin, request.Id, remoteIp, client, rateLimit: true) is { } refusal)
        {
            var retryAfter = refusal.RetryAfterSeconds is { } seconds ? $"Retry-After: {seconds}\r\n" : null;
            await RespondAsync(output, refusal.StatusLine, retryAfter, refusal.Body);
            return null;
        }

        // The 101 goes out with the first frame (OPEN or the in-band error): one send for both.
        WriteSwitchingProtocols(output, request.WebSocketKey);
        return await _endpoint.OpenAsync(
            new SocketRequest(request.Key, request.Id, request.Token, remoteIp, client),
            new AcceptedSocket(
                connection.Transport, connection.Abort, PlatformSocket.Chosen ? PlatformSocket.OverPipes(connection.Transport) : null),
            connection.ConnectionClosed);
    }

    private void WriteSwitchingProtocols(PipeWriter output, string webSocketKey)
    {
        var writer = new HeadWriter(output);
        writer.Write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "u8);
        writer.Write(UpgradeRequest.AcceptKey(webSocketKey));
        writer.Write("\r\n"u8);
        writer.Write(_replicaHeader);
        writer.Write("\r\n"u8);
    }

    private async Task RespondAsync(PipeWriter output, string status, string? extraHeaders, string body)
    {
        var writer = new HeadWriter(output);
        writer.Write($"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {body.Length}\r\nConnection: close\r\n{extraHeaders}");
        writer.Write(_replicaHeader);
        writer.Write("\r\n"u8);
        writer.Write(body);
        await output.FlushAsync();
    }

    private readonly struct HeadWriter(PipeWriter output)
    {
        public void Write(ReadOnlySpan<byte> bytes) => output.Write(bytes);

        public void Write(string ascii)
        {
            var span = output.GetSpan(ascii.Length);
            var written = Encoding.ASCII.GetBytes(ascii, span);
            output.Advance(written);
        }
    }

    /// <summary>The connection's pipes, with a reader whose first read returns the bytes already received at once.</summary>
    private sealed class ReplayingTransport(IDuplexPipe inner) : IDuplexPipe
    {
        public PipeReader Input { get; } = new ReplayingReader(inner.Input);

        public PipeWriter Output => inner.Output;
    }

    // After the fast path examined every buffered byte, the pipe's next read would wait for new bytes. The first read
    // through this reader cancels that wait (CancelPendingRead makes the pipe hand back what it holds at once) and
    // returns the buffered bytes as an ordinary read.
    private sealed class ReplayingReader(PipeReader inner) : PipeReader
    {
        private bool _replayed;

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            if (_replayed)
            {
                return inner.ReadAsync(cancellationToken);
            }

            _replayed = true;
            inner.CancelPendingRead();
            var read = inner.ReadAsync(cancellationToken);
            return read.IsCompletedSuccessfully ? ValueTask.FromResult(AsOrdinary(read.Result)) : ReplayAsync(read);
        }

        public override bool TryRead(out ReadResult result)
        {
            if (_replayed)
            {
                return inner.TryRead(out result);
            }

            _replayed = true;
            inner.CancelPendingRead();
            if (inner.TryRead(out result))
            {
                result = AsOrdinary(result);
                return true;
            }

            return false;
        }

        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        private static async ValueTask<ReadResult> ReplayAsync(ValueTask<ReadResult> read) => AsOrdinary(await read);

        private static ReadResult AsOrdinary(ReadResult result) => new(result.Buffer, isCanceled: false, result.IsCompleted);
    }
}

/// <summary>
/// What is left of the request-headers timeout when the fast path hands a connection to Kestrel after reading part of
/// its head: the connection is aborted when it runs out, unless the head arrived first (the pipeline's first middleware
/// calls <see cref="HeadReceived"/>; Kestrel's own timeout, which starts afresh, would otherwise give a trickled head
/// a second budget). A connection feature, visible to the request's features.
/// </summary>
public sealed class UpgradeHeadDeadline : IDisposable
{
    private readonly Timer _timer;

    private UpgradeHeadDeadline(ConnectionContext connection, TimeSpan remaining)
    {
        _timer = new Timer(
            static state => ((ConnectionContext)state!).Abort(new ConnectionAbortedException("Request headers timed out")),
            connection,
            remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero,
            Timeout.InfiniteTimeSpan);
        connection.ConnectionClosed.Register(static timer => ((Timer)timer!).Dispose(), _timer);
    }

    public static void Start(ConnectionContext connection, TimeSpan remaining) =>
        connection.Features.Set(new UpgradeHeadDeadline(connection, remaining));

    /// <summary>The first request's head has been read: the deadline no longer applies.</summary>
    public void HeadReceived() => _timer.Dispose();

    public void Dispose() => _timer.Dispose();
}
