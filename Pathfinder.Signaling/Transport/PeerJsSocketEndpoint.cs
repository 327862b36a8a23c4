using Microsoft.Extensions.Primitives;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// The WebSocket endpoint <c>{path}/peerjs?key&amp;id&amp;token</c>. The upgrade always succeeds; problems are
/// reported in-band (ERROR / ID-TAKEN, then close) in the reference's order: missing parameters, key, id, limit.
/// </summary>
public sealed class PeerJsSocketEndpoint(
    PeerRouter router,
    AccessKey key,
    TransportSettings settings,
    SignalingMetrics metrics,
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

        var query = context.Request.Query;
        var peerKey = Last(query["key"]);
        var id = Last(query["id"]);
        var token = Last(query["token"]);
        var remoteIp = context.Connection.RemoteIpAddress?.ToString();

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
        metrics.PeerOpened();
        Log.PeerConnected(logger, id, remoteIp);
        try
        {
            await connection.RunAsync();
        }
        finally
        {
            metrics.PeerClosed(connection.CloseReason);
            Log.PeerDisconnected(logger, id, connection.CloseReason.Name());
        }
    }

    private async Task RejectAsync(
        PeerConnection connection,
        ReadOnlyMemory<byte> frame,
        ConnectOutcome outcome,
        string? remoteIp,
        CancellationToken cancellationToken)
    {
        metrics.Connection(outcome);
        Log.HandshakeRejected(logger, OutcomeName(outcome), connection.Id, remoteIp);
        await connection.RejectAsync(frame, cancellationToken);
    }

    private static string OutcomeName(ConnectOutcome outcome) => outcome switch
    {
        ConnectOutcome.InvalidKey => "invalid key",
        ConnectOutcome.IdTaken => "id taken",
        ConnectOutcome.Limit => "concurrent limit",
        _ => "missing id, token or key",
    };

    // As the reference (URLSearchParams + Object.fromEntries): the last duplicate wins.
    private static string? Last(StringValues values) => values.Count == 0 ? null : values[values.Count - 1];
}
