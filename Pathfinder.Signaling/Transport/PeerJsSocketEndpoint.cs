using Microsoft.Extensions.Primitives;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Http;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// The WebSocket endpoint <c>{path}/peerjs?key&amp;id&amp;token</c>. The upgrade always succeeds; problems are
/// reported in-band (ERROR / ID-TAKEN, then close) in the reference's order: missing parameters, key, id, limit
/// (the per-IP socket limit is checked after the key). Refused before the upgrade: an Origin outside the configured
/// allow-list (403), and a client over the rate limit (429, <see cref="ClientRateLimiting"/>).
/// </summary>
public sealed class PeerJsSocketEndpoint(
    PeerRouter router,
    AccessKey key,
    TransportSettings settings,
    SignalingMetrics metrics,
    OriginAllowList origins,
    ClientSocketLimiter socketLimiter,
    ILogger<PeerConnection> logger)
{
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

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var handshake = SignalingActivity.StartHandshake();
        var query = context.Request.Query;
        var peerKey = Last(query["key"]);
        var id = Last(query["id"]);
        var token = Last(query["token"]);
        var remoteIp = ClientAddress.Of(context);

        if (context.Request.Headers.Origin.Count > 0 && !origins.IsAllowed(context.Request.Headers.Origin))
        {
            await RefuseOriginAsync(context, id, remoteIp);
            return;
        }

        using var slot = socketLimiter.TryAcquire(remoteIp);

        // Browsers always offer permessage-deflate; we decline it (no DangerousEnableCompression), which the
        // protocol allows and which keeps per-connection memory small.
        var socket = await context.WebSockets.AcceptWebSocketAsync();
        var connection = new PeerConnection(socket, id ?? string.Empty, token ?? string.Empty, router, settings, metrics, logger);

        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(token) || string.IsNullOrEmpty(peerKey))
        {
            await RejectAsync(connection, ServerMessages.NoIdTokenOrKey, ConnectOutcome.BadRequest, remoteIp, context.RequestAborted);
            return;
        }

        if (!key.Matches(peerKey))
        {
            await RejectAsync(connection, ServerMessages.InvalidKey, ConnectOutcome.InvalidKey, remoteIp, context.RequestAborted);
            return;
        }

        if (!slot.Acquired)
        {
            // Too many sockets from this client IP: the spec's concurrent-limit ERROR, then close.
            await RejectAsync(connection, ServerMessages.ConcurrentLimit, ConnectOutcome.Limit, remoteIp, context.RequestAborted, "ip_limit");
            return;
        }

        ClaimOutcome outcome;
        try
        {
            outcome = await router.ConnectAsync(connection, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            socket.Abort();
            return;
        }

        switch (outcome)
        {
            case ClaimOutcome.IdTaken:
                await RejectAsync(connection, ServerMessages.IdTaken, ConnectOutcome.IdTaken, remoteIp, context.RequestAborted);
                return;
            case ClaimOutcome.LimitReached:
                await RejectAsync(connection, ServerMessages.ConcurrentLimit, ConnectOutcome.Limit, remoteIp, context.RequestAborted);
                return;
        }

        if (connection.IsClosing)
        {
            // Closed (aborted, superseded) while the claim was in flight: make sure the id is not left behind.
            router.Release(connection);
        }

        metrics.Connection(ConnectOutcome.Opened);
        metrics.ConnectDuration(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        handshake?.SetTag("peerjs.outcome", ConnectOutcome.Opened.Reason()).SetTag("peerjs.id", id).Dispose();
        metrics.PeerOpened();
        Log.PeerConnected(logger, id, remoteIp);
        try
        {
            await connection.RunAsync();
        }
        finally
        {
            metrics.PeerClosed(connection.CloseReason);
            Log.PeerDisconnected(logger, id, remoteIp, connection.CloseReason.Name());
        }
    }

    private async Task RejectAsync(
        PeerConnection connection,
        ReadOnlyMemory<byte> frame,
        ConnectOutcome outcome,
        string? remoteIp,
        CancellationToken cancellationToken,
        string? reason = null)
    {
        metrics.Connection(outcome);
        System.Diagnostics.Activity.Current?.SetTag("peerjs.outcome", reason ?? outcome.Reason());
        Log.HandshakeRejected(logger, reason ?? outcome.Reason(), connection.Id, remoteIp);
        await connection.RejectAsync(frame, cancellationToken);
    }

    // A browser page on a site outside CORS_ORIGINS must not open sockets as its user: no upgrade, 403. (Clients
    // that send no Origin are not browsers; they are not restricted by it.)
    private Task RefuseOriginAsync(HttpContext context, string? id, string remoteIp)
    {
        metrics.Connection(ConnectOutcome.OriginDenied);
        Log.OriginDenied(logger, Printable(context.Request.Headers.Origin.ToString()), remoteIp);
        Log.HandshakeRejected(logger, ConnectOutcome.OriginDenied.Reason(), id, remoteIp);
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync("Origin not allowed", context.RequestAborted);
    }

    private static string Printable(string value) =>
        new(value.Take(200).Select(c => char.IsControl(c) ? '?' : c).ToArray());

    // As the reference (URLSearchParams + Object.fromEntries): the last duplicate wins.
    private static string? Last(StringValues values) => values.Count == 0 ? null : values[values.Count - 1];
}
