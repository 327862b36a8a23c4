using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// What a PeerJS socket handshake carries, however it arrived. <paramref name="RemoteIp"/> is for logs,
/// <paramref name="Client"/> the client group the per-client limits count it against (<see cref="ClientGrouping"/>).
/// </summary>
public readonly record struct SocketRequest(string? Key, string? Id, string? Token, string RemoteIp, string Client);

/// <summary>
/// An accepted upgrade: the connection's byte pipes and how to tear the connection down; with
/// <paramref name="Platform"/>, .NET's WebSocket runs the socket instead of our framing (the bench's comparison,
/// <see cref="PlatformSocket"/>; then <paramref name="Transport"/> is null on the pipeline path).
/// </summary>
public readonly record struct AcceptedSocket(IDuplexPipe? Transport, Action Abort, PlatformSocket? Platform = null);

/// <summary>
/// The WebSocket endpoint <c>{path}/peerjs?key&amp;id&amp;token</c>. The upgrade always succeeds; problems are
/// reported in-band (ERROR / ID-TAKEN, then close) in the reference's order: missing parameters, key, id and token
/// rules, limit (the per-client socket limit is checked after the key). Refused before the upgrade: an Origin outside
/// the configured allow-list (403), and a client over the rate limit (429, <c>Http.ClientRateLimiting</c>). The rules
/// are <see cref="UpgradePolicy"/>'s, shared with the fast path.
/// Plain HTTP/1.1 upgrades are taken straight off the connection by <see cref="PeerJsUpgradeFastPath"/>; this class
/// also serves the rest through ASP.NET Core (<see cref="HandleAsync"/>: WebSockets over HTTP/2, TLS endpoints bound by
/// URL, requests through a proxy).
/// </summary>
public sealed class PeerJsSocketEndpoint(
    PeerRouter router,
    UpgradePolicy policy,
    TransportSettings settings,
    SignalingMetrics metrics,
    ILogger<PeerConnection> logger)
{
    private readonly PeerConnectionServices _services = new(router, settings, metrics, logger);

    public UpgradePolicy Policy => policy;

    /// <summary>The upgrade through ASP.NET Core's pipeline (after forwarded headers, CORS and the rate limiter).</summary>
    public async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path.Value?.EndsWith('/') == true)
        {
            // The reference's ws server compares the path exactly: "{path}/peerjs/" is not the socket.
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            context.Response.Headers.Upgrade = "websocket";
            await context.Response.WriteAsync(
                "This is the PeerJS signaling WebSocket endpoint: connect with a WebSocket upgrade.",
                context.RequestAborted);
            return;
        }

        // Request.Query: names case-insensitive, values decoded; the fast path reads its query the same way.
        var query = context.Request.Query;
        var request = new SocketRequest(
            UpgradePolicy.QueryValue(query["key"]), UpgradePolicy.QueryValue(query["id"]), UpgradePolicy.QueryValue(query["token"]), ClientAddress.Of(context), policy.Grouping.KeyOf(context));

        // A browser page on a site outside CORS_ORIGINS must not open sockets as its user: no upgrade, 403. (The rate
        // limit was applied by the rate-limiter middleware, on the same limiter.)
        if (policy.BeforeUpgrade(context.Request.Headers.Origin, request.Id, request.RemoteIp, request.Client, rateLimit: false) is { } refusal)
        {
            context.Response.StatusCode = refusal.StatusCode;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(refusal.Body, context.RequestAborted);
            return;
        }

        var socket = await AcceptAsync(context);
        if (await OpenAsync(request, socket, context.RequestAborted) is { } peer)
        {
            await peer.RunAsync();
        }
    }

    // Browsers offer permessage-deflate; we decline it (no Sec-WebSocket-Extensions in the answer), which the
    // protocol allows and which keeps per-connection memory small. No subprotocol is selected either.
    private static async ValueTask<AcceptedSocket> AcceptAsync(HttpContext context)
    {
        if (PlatformSocket.Chosen)
        {
            var accepted = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = TimeSpan.Zero });
            return new AcceptedSocket(null, context.Abort, PlatformSocket.Accepted(accepted));
        }

        Stream stream;
        if (context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
        {
            stream = await connect.AcceptAsync(); // WebSockets over HTTP/2 (RFC 8441)
        }
        else
        {
            var upgrade = context.Features.GetRequiredFeature<IHttpUpgradeFeature>();
            var headers = context.Response.Headers;
            headers.Connection = "Upgrade";
            headers.Upgrade = "websocket";
            headers.SecWebSocketAccept = UpgradeRequest.AcceptKey(context.Request.Headers.SecWebSocketKey.ToString());
            stream = await upgrade.UpgradeAsync();
        }

        var pipe = new StreamTransport(
            PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, useZeroByteReads: true)),
            PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 4096)));
        return new AcceptedSocket(pipe, context.Abort);
    }

    /// <summary>
    /// Runs the in-band checks on an accepted upgrade (<see cref="UpgradePolicy.InBand"/>: missing parameters, key, id and token rules, per-client limit; then the id claim). Returns the
    /// registered connection for the caller to run (<see cref="PeerConnection.RunAsync"/>), or null when it was
    /// refused (the refusal has been sent and the socket closed).
    /// </summary>
    public async ValueTask<PeerConnection?> OpenAsync(SocketRequest request, AcceptedSocket socket, CancellationToken aborted)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var handshake = SignalingActivity.StartHandshake();
        var id = request.Id;
        var slot = policy.TakeSlot(request.Client);
        var connection = new PeerConnection(socket, id ?? string.Empty, request.Token ?? string.Empty, request.RemoteIp, slot, _services);

        if (policy.InBand(request, slot) is { } refusal)
        {
            await RejectAsync(connection, refusal);
            return null;
        }

        // OPEN and any queued messages are written by the claim; batched, they leave with the 101 in one send.
        // (A claim that has to wait, for the backplane, hands them over later and batches them itself.)
        ValueTask<ClaimOutcome> claim;
        var batch = new SendBatch();
        try
        {
            claim = router.ConnectAsync(connection, batch, aborted);
        }
        finally
        {
            batch.Flush();
        }

        ClaimOutcome outcome;
        try
        {
            outcome = await claim;
        }
        catch (OperationCanceledException)
        {
            socket.Abort();
            slot.Dispose();
            return null;
        }

        switch (outcome)
        {
            case ClaimOutcome.IdTaken:
                await RejectAsync(connection, new HandshakeRefusal(ServerMessages.IdTaken, ConnectOutcome.IdTaken, ConnectOutcome.IdTaken.Reason()));
                return null;
            case ClaimOutcome.LimitReached:
                await RejectAsync(connection, new HandshakeRefusal(ServerMessages.ConcurrentLimit, ConnectOutcome.Limit, ConnectOutcome.Limit.Reason()));
                return null;
            case ClaimOutcome.Unavailable:
                await RejectAsync(connection, new HandshakeRefusal(ServerMessages.RegistrationUnavailable, ConnectOutcome.Unavailable, ConnectOutcome.Unavailable.Reason()));
                return null;
        }

        if (connection.IsClosing)
        {
            // Closed (aborted, superseded) while the claim was in flight: make sure the id is not left behind.
            router.Release(connection);
        }

        metrics.Connection(ConnectOutcome.Opened);
        metrics.ConnectDuration(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        handshake?.SetTag("peerjs.outcome", ConnectOutcome.Opened.Reason()).SetTag("peerjs.id", id).Dispose();
        connection.Registered();
        return connection;
    }

    private Task RejectAsync(PeerConnection connection, HandshakeRefusal refusal)
    {
        policy.Refused(refusal, connection.Id, connection.RemoteIp);
        // At a limit descriptors may be short: the refused socket is let go as soon as its ERROR is out.
        return connection.RejectAsync(refusal.Frame, awaitClientClose: refusal.Outcome != ConnectOutcome.Limit);
    }

    private sealed class StreamTransport(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}
