using Microsoft.Extensions.Primitives;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Transport;

/// <summary>A refusal before the upgrade: the HTTP status line, body and Retry-After (seconds) when rate limited.</summary>
public sealed record UpgradeRefusal(int StatusCode, string StatusLine, string Body, int? RetryAfterSeconds)
{
    /// <summary>The body of every 429, whichever path answers it (the fast path, or the pipeline's rate limiter).</summary>
    public const string TooManyRequestsBody = "Too Many Requests";
}

/// <summary>An in-band refusal after the 101: the frame to send, the metric outcome and the logged reason.</summary>
public readonly record struct HandshakeRefusal(ReadOnlyMemory<byte> Frame, ConnectOutcome Outcome, string Reason);

/// <summary>
/// The PeerJS socket rules, one copy for both ways an upgrade arrives (<see cref="PeerJsUpgradeFastPath"/> on the
/// connection, <see cref="PeerJsSocketEndpoint.HandleAsync"/> through ASP.NET Core). What HTTP itself requires (header
/// syntax and sizes, the request-line limit, the header timeout, AllowedHosts) is Kestrel's and the pipeline's: the
/// fast path takes only heads that are plainly within those limits (<see cref="UpgradeHeadLimits"/>) and hands every
/// other connection to Kestrel untouched. Checked here:
/// <list type="number">
/// <item>before the upgrade: the Origin allow-list (403), then the per-client rate limit (429; in the pipeline the
/// rate-limiter middleware draws on the same <see cref="ClientRateLimiter"/>);</item>
/// <item>in-band after the 101, in the reference's order: missing id/token/key, key, id rule, token rule
/// (<see cref="PeerIdRules"/>), with a token secret the signed-token check (<see cref="SignedTokens"/>: malformed,
/// forged or signed for another id, expired — each an ERROR, never OPEN), then the per-client socket limit and its partition cap (the concurrent-limit ERROR);
/// the id claim and concurrent_limit follow in the router.</item>
/// </list>
/// </summary>
public sealed class UpgradePolicy(
    AccessKey key,
    PeerIdRules idRules,
    OriginAllowList origins,
    ClientGrouping grouping,
    ClientSocketLimiter socketLimiter,
    SignalingMetrics metrics,
    ILogger<PeerConnection> logger,
    TimeProvider time,
    ClientRateLimiter? rateLimiter = null,
    SignedTokens? signedTokens = null)
{
    public PeerIdRules IdRules => idRules;

    /// <summary>
    /// A query parameter as the pipeline has it, read as the reference does (URLSearchParams + Object.fromEntries): the
    /// last duplicate wins. (The fast path applies the same rule to the bytes, in UpgradeHeadParser.)
    /// </summary>
    public static string? QueryValue(StringValues values) => values.Count == 0 ? null : values[values.Count - 1];

    public ClientGrouping Grouping => grouping;

    /// <summary>Whether a browser page from <paramref name="origin"/> may open sockets (no Origin: not a browser, allowed).</summary>
    public bool IsOriginAllowed(StringValues origin) => origin.Count == 0 || origins.IsAllowed(origin);

    /// <summary>
    /// The checks before the upgrade: Origin, then (when <paramref name="rateLimit"/>, i.e. on the fast path) the
    /// client's rate limit. Null: go ahead with the 101. A refusal has been logged and counted.
    /// </summary>
    public UpgradeRefusal? BeforeUpgrade(StringValues origin, string? id, string remoteIp, string client, bool rateLimit)
    {
        if (!IsOriginAllowed(origin))
        {
            OriginRefused(origin.ToString(), id, remoteIp);
            return new UpgradeRefusal(StatusCodes.Status403Forbidden, "403 Forbidden", "Origin not allowed", null);
        }

        if (rateLimit && rateLimiter is not null)
        {
            using var lease = rateLimiter.Acquire(client);
            if (!lease.IsAcquired)
            {
                RateLimited(id, remoteIp);
                return new UpgradeRefusal(StatusCodes.Status429TooManyRequests, "429 Too Many Requests", UpgradeRefusal.TooManyRequestsBody, rateLimiter.RetryAfterSeconds(lease));
            }
        }

        return null;
    }

    /// <summary>Takes the client's socket slot (given back when the connection ends); refused slots are reported by <see cref="InBand"/>.</summary>
    public ClientSocketLimiter.Slot TakeSlot(string client) => socketLimiter.TryAcquire(client);

    /// <summary>The in-band checks in the protocol's order (missing parameters, key, id, token, client limit); null: claim the id.</summary>
    public HandshakeRefusal? InBand(in SocketRequest request, ClientSocketLimiter.Slot slot)
    {
        if (string.IsNullOrEmpty(request.Id) || string.IsNullOrEmpty(request.Token) || string.IsNullOrEmpty(request.Key))
        {
            return new HandshakeRefusal(ServerMessages.NoIdTokenOrKey, ConnectOutcome.BadRequest, ConnectOutcome.BadRequest.Reason());
        }

        if (!key.Matches(request.Key))
        {
            return new HandshakeRefusal(ServerMessages.InvalidKey, ConnectOutcome.InvalidKey, ConnectOutcome.InvalidKey.Reason());
        }

        if (!idRules.IsValidId(request.Id))
        {
            return new HandshakeRefusal(idRules.InvalidId, ConnectOutcome.BadRequest, "invalid_id");
        }

        if (!PeerIdRules.IsValidToken(request.Token))
        {
            return new HandshakeRefusal(ServerMessages.InvalidToken, ConnectOutcome.BadRequest, "invalid_token");
        }

        if (signedTokens is not null)
        {
            switch (signedTokens.Verify(request.Id, request.Token, time.GetUtcNow().ToUnixTimeSeconds()))
            {
                case TokenVerdict.Malformed:
                    return new HandshakeRefusal(ServerMessages.InvalidToken, ConnectOutcome.BadRequest, "token_malformed");
                case TokenVerdict.Forged:
                    return new HandshakeRefusal(ServerMessages.InvalidToken, ConnectOutcome.BadRequest, "token_forged");
                case TokenVerdict.Expired:
                    return new HandshakeRefusal(ServerMessages.TokenExpired, ConnectOutcome.BadRequest, "token_expired");
            }
        }

        return slot.Refusal switch
        {
            // Too many sockets from this client, or too many clients: the spec's concurrent-limit ERROR, then close.
            ClientSocketLimiter.SlotRefusal.ClientLimit => new HandshakeRefusal(ServerMessages.ConcurrentLimit, ConnectOutcome.Limit, "ip_limit"),
            ClientSocketLimiter.SlotRefusal.PartitionLimit => new HandshakeRefusal(ServerMessages.ConcurrentLimit, ConnectOutcome.Limit, "client_partitions"),
            _ => null,
        };
    }

    /// <summary>Logs and counts a socket refused for its Origin (the caller answers 403).</summary>
    public void OriginRefused(string origin, string? id, string remoteIp)
    {
        metrics.Connection(ConnectOutcome.OriginDenied);
        Log.OriginDenied(logger, PeerIdRules.ForLog(origin)!, remoteIp);
        Log.HandshakeRejected(logger, ConnectOutcome.OriginDenied.Reason(), PeerIdRules.ForLog(id), remoteIp);
    }

    /// <summary>Logs and counts a socket refused by the rate limit (the caller answers 429).</summary>
    public void RateLimited(string? id, string remoteIp)
    {
        metrics.Connection(ConnectOutcome.RateLimited);
        Log.HandshakeRejected(logger, ConnectOutcome.RateLimited.Reason(), PeerIdRules.ForLog(id), remoteIp);
    }

    /// <summary>Logs and counts an in-band refusal (the id escaped: it may be anything the client sent).</summary>
    public void Refused(in HandshakeRefusal refusal, string? id, string remoteIp)
    {
        metrics.Connection(refusal.Outcome);
        System.Diagnostics.Activity.Current?.SetTag("peerjs.outcome", refusal.Reason);
        Log.HandshakeRejected(logger, refusal.Reason, PeerIdRules.ForLog(id), remoteIp);
    }
}
