namespace Pathfinder.Signaling.Telemetry;

/// <summary>Every log event of the service, with stable event ids. The key is never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "[PeerJS] Client connected: {PeerId} from {RemoteIp}")]
    public static partial void PeerConnected(ILogger logger, string peerId, string? remoteIp);

    [LoggerMessage(2, LogLevel.Debug, "[PeerJS] Client disconnected: {PeerId} from {RemoteIp} ({Reason})")]
    public static partial void PeerDisconnected(ILogger logger, string peerId, string? remoteIp, string reason);

    /// <summary>A WebSocket handshake refused; <paramref name="reason"/> is the connections metric's outcome tag
    /// (invalid_key, id_taken, limit, bad_request, rate_limited, origin_denied, unavailable), or a finer reason: ip_limit
    /// (the per-client socket limit), client_partitions (MaxClientPartitions), invalid_id, invalid_token. The id is
    /// escaped (<see cref="Protocol.PeerIdRules.ForLog"/>): it is whatever the client sent.</summary>
    [LoggerMessage(3, LogLevel.Information, "[PeerJS] Handshake rejected ({Reason}) for id '{PeerId}' from {RemoteIp}")]
    public static partial void HandshakeRejected(ILogger logger, string reason, string? peerId, string? remoteIp);

    [LoggerMessage(4, LogLevel.Debug, "Dropped a malformed frame from {PeerId} ({Length} bytes)")]
    public static partial void MalformedFrame(ILogger logger, string peerId, int length);

    [LoggerMessage(5, LogLevel.Warning, "Closing {PeerId}: message larger than {Limit} bytes")]
    public static partial void MessageTooBig(ILogger logger, string peerId, int limit);

    [LoggerMessage(7, LogLevel.Warning, "A message for {PeerId} cannot be delivered or queued ({Why}); the sender gets EXPIRE")]
    public static partial void NotDeliverable(ILogger logger, string peerId, string why);

    [LoggerMessage(8, LogLevel.Debug, "Connection of {PeerId} ended with an error")]
    public static partial void ConnectionError(ILogger logger, string peerId, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "Releasing a peer id failed; its lease will run out")]
    public static partial void ReleaseFailed(ILogger logger, Exception exception);

    [LoggerMessage(9, LogLevel.Error, "Sweep failed")]
    public static partial void SweepFailed(ILogger logger, Exception exception);

    // Production hardening: 20-29.
    [LoggerMessage(20, LogLevel.Warning, "[PeerJS] Rate limited: HTTP request from {RemoteIp}; retry after {RetryAfterSeconds} s")]
    public static partial void RequestRateLimited(ILogger logger, string remoteIp, int retryAfterSeconds);

    [LoggerMessage(21, LogLevel.Information, "[PeerJS] Origin {Origin} is not allowed (CORS_ORIGINS); socket refused for {RemoteIp}")]
    public static partial void OriginDenied(ILogger logger, string origin, string remoteIp);

    [LoggerMessage(22, LogLevel.Warning, "X-Forwarded-For from {RemoteIp} is ignored: it is not a known proxy (set PROXIED / KNOWN_PROXIES if the service runs behind a proxy)")]
    public static partial void ForwardedHeadersIgnored(ILogger logger, string remoteIp);

    [LoggerMessage(23, LogLevel.Information, "[PeerJS] Pathfinder Signaling listening on {Url} ({Environment})")]
    public static partial void Listening(ILogger logger, string url, string environment);

    [LoggerMessage(280, LogLevel.Information, "Session lab at {Url} (Signaling:Lab; off by default outside Development)")]
    public static partial void LabServed(ILogger logger, string url);

    [LoggerMessage(281, LogLevel.Warning, "Session lab: not in this build — npm was not found when the service was built, so the peerjs client could not be bundled. Install Node.js and npm (Debian: apt-get install -y npm) and build again")]
    public static partial void LabNotBuilt(ILogger logger);

    [LoggerMessage(25, LogLevel.Information, "Open-file limit {Limit} ({InUse} in use at start): up to {Peers} peers, {Connections} connections")]
    public static partial void OpenFileCaps(ILogger logger, long limit, int inUse, int peers, string connections);

    [LoggerMessage(24, LogLevel.Warning, "{Setting} is not set: {Consequence}")]
    public static partial void ProductionAdvice(ILogger logger, string setting, string consequence);

    // Abuse limits (send-queue budget, relay rate): 200-219. Peer ids are escaped (PeerIdRules.ForLog).
    [LoggerMessage(200, LogLevel.Warning, "Closing {PeerId} (1008): its send queue is over budget (slow consumer): {QueuedBytes} bytes in {QueuedFrames} frames queued; budget {BudgetBytes} bytes, {BudgetFrames} frames")]
    public static partial void SendQueueOverBudget(ILogger logger, string peerId, long queuedBytes, int queuedFrames, int budgetBytes, int budgetFrames);

    [LoggerMessage(201, LogLevel.Debug, "Refusing relays from {PeerId}: over its relay rate ({MessagesPerSecond} messages/s, burst {MessageBurst}; {BytesPerSecond} bytes/s, burst {ByteBurst}); it gets ERROR")]
    public static partial void RelayRateRefused(ILogger logger, string peerId, long messagesPerSecond, long messageBurst, long bytesPerSecond, long byteBurst);

    [LoggerMessage(202, LogLevel.Warning, "Closing {PeerId} (1008): {Refused} messages in a row over its relay rate ({MessagesPerSecond} messages/s, burst {MessageBurst}; {BytesPerSecond} bytes/s, burst {ByteBurst})")]
    public static partial void RelayRateExceeded(ILogger logger, string peerId, int refused, long messagesPerSecond, long messageBurst, long bytesPerSecond, long byteBurst);

    /// <summary>A new socket took a held id over (the same token, or with signed tokens any valid one); the old socket was told and closed.</summary>
    [LoggerMessage(260, LogLevel.Information, "[PeerJS] Id '{PeerId}' taken over by a new connection from {RemoteIp}")]
    public static partial void IdTakenOver(ILogger logger, string peerId, string remoteIp);

    // The framing comparison (issue 15): 340-349.
    [LoggerMessage(340, LogLevel.Warning, "Sockets run on .NET's WebSocket instead of the service's own framing ({Variable}=platform): a bench comparison, not for production")]
    public static partial void PlatformFraming(ILogger logger, string variable);
}
