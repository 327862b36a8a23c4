namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// The PeerJS server settings (configuration section <c>Signaling</c>). Names and defaults follow the seed's
/// reference server; times are whole milliseconds as in the reference. A setting is one property here, with its doc
/// comment and attributes: <see cref="EnvironmentVariableAttribute"/> when the seed has a variable for it,
/// <see cref="WholeNumberAttribute"/> (range, unit) for numbers, <see cref="AtLeastAttribute"/> for a budget bound by
/// another setting. <see cref="SignalingConfiguration"/> binds and checks every property from these (README's
/// configuration table lists them, ReadmeConfigurationTableTests keeps it so).
/// </summary>
public sealed class SignalingOptions
{
    public const string SectionName = "Signaling";

    /// <summary>HTTP port used when no URLs are configured for the host (ASPNETCORE_URLS, --urls, Kestrel endpoints).</summary>
    [EnvironmentVariable("PEERJS_PORT"), WholeNumber(1, 65535)]
    public int Port { get; set; } = 9000;

    /// <summary>Mount path of the HTTP API; the WebSocket lives at <c>{Path}/peerjs</c>.</summary>
    [EnvironmentVariable("PEERJS_PATH")]
    public string Path { get; set; } = "/pathfinder";

    /// <summary>
    /// The key clients present (the WebSocket's <c>key=</c>, the HTTP API's <c>/{key}/</c>), compared in constant time
    /// (<see cref="AccessKey"/>) and never logged or echoed. The default is the plugin's, accepted in Development only:
    /// every other environment requires a strong key (<see cref="ProductionGuard"/>).
    /// </summary>
    [EnvironmentVariable("PEERJS_KEY")]
    public string Key { get; set; } = "pathfinder";

    /// <summary>A peer whose last HEARTBEAT is older than this is dropped (ms).</summary>
    [EnvironmentVariable("ALIVE_TIMEOUT"), WholeNumber(1000, Unit = "milliseconds")]
    public int AliveTimeout { get; set; } = 60_000;

    /// <summary>Age after which an offline destination's queued messages expire and senders get EXPIRE (ms).</summary>
    [EnvironmentVariable("EXPIRE_TIMEOUT"), WholeNumber(1, Unit = "milliseconds")]
    public int ExpireTimeout { get; set; } = 5_000;

    /// <summary>Maximum number of registered peers; checked only when a new id registers.</summary>
    [EnvironmentVariable("CONCURRENT_LIMIT"), WholeNumber(1, Unit = "peers")]
    public int ConcurrentLimit { get; set; } = 5_000;

    /// <summary>
    /// Hard cap on registered peers of this process; 0 (default) derives it from the open-file limit
    /// (<see cref="OpenFileLimit.DerivedCap"/>: the soft RLIMIT_NOFILE minus the descriptors in use and headroom). The
    /// effective limit is the smaller of this and <see cref="ConcurrentLimit"/>.
    /// </summary>
    [WholeNumber(0, Unit = "sockets", Note = "0 = from the open-file limit")]
    public int MaxConnections { get; set; }

    /// <summary>Enables <c>GET {Path}/{key}/peers</c>.</summary>
    [EnvironmentVariable("ALLOW_DISCOVERY")]
    public bool AllowDiscovery { get; set; }

    /// <summary>Period of the offline-queue expiry sweep (ms), the reference's cleanup_out_msgs.</summary>
    [WholeNumber(10, Unit = "milliseconds")]
    public int CleanupOutMsgs { get; set; } = 1_000;

    /// <summary>Period of the liveness sweep (ms).</summary>
    [WholeNumber(10, Unit = "milliseconds")]
    public int LivenessCheckInterval { get; set; } = 1_000;

    /// <summary>Largest accepted WebSocket message in bytes (64 KiB covers a large SDP); a larger one closes that sender (1009).</summary>
    [WholeNumber(16 * 1024, 16 * 1024 * 1024, Unit = "bytes")]
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Frames waiting to be written to one peer; a peer that lets it fill up is a slow consumer and is closed.</summary>
    [WholeNumber(16, 1_000_000, Unit = "messages")]
    public int SendQueueCapacity { get; set; } = 512;

    /// <summary>
    /// Bytes waiting to be written to one peer (control-frame replies included); a peer that lets it fill up is a slow
    /// consumer and is closed. At least <see cref="MaxMessageBytes"/>.
    /// </summary>
    [WholeNumber(16 * 1024, 1024 * 1024 * 1024, Unit = "bytes"), AtLeast(nameof(MaxMessageBytes))]
    public int SendQueueBytes { get; set; } = 1024 * 1024;

    /// <summary>Relayed messages (OFFER, ANSWER, CANDIDATE, LEAVE) one connection may send per second on average (token bucket refill).</summary>
    [WholeNumber(1, Unit = "messages")]
    public int RelayMessagesPerSecond { get; set; } = 400;

    /// <summary>Relayed messages one connection may send in a burst (token bucket size).</summary>
    [WholeNumber(1, Unit = "messages")]
    public int RelayMessageBurst { get; set; } = 4_000;

    /// <summary>Relayed bytes one connection may send per second on average (token bucket refill).</summary>
    [WholeNumber(1024, Unit = "bytes")]
    public int RelayBytesPerSecond { get; set; } = 1024 * 1024;

    /// <summary>Relayed bytes one connection may send in a burst (token bucket size); at least <see cref="MaxMessageBytes"/>.</summary>
    [WholeNumber(16 * 1024, Unit = "bytes"), AtLeast(nameof(MaxMessageBytes))]
    public int RelayByteBurst { get; set; } = 4 * 1024 * 1024;

    /// <summary>Messages kept for one offline destination.</summary>
    [WholeNumber(1, 1_000_000, Unit = "messages")]
    public int OfflineQueuePerPeer { get; set; } = 256;

    /// <summary>Bytes kept in all offline queues together (in memory, or across the cluster in Redis).</summary>
    [WholeNumber(1024, Unit = "bytes"), AtLeast(nameof(MaxMessageBytes))]
    public long OfflineQueueTotalBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Messages kept in all offline queues together (in memory, or across the cluster in Redis).</summary>
    [WholeNumber(1, Unit = "messages")]
    public int OfflineQueueTotalMessages { get; set; } = 100_000;

    /// <summary>Messages one sender may have waiting in offline queues; past it the sender gets EXPIRE at once.</summary>
    [WholeNumber(1, 1_000_000, Unit = "messages")]
    public int OfflineQueuePerSender { get; set; } = 256;

    /// <summary>Bytes one sender may have waiting in offline queues; past it the sender gets EXPIRE at once.</summary>
    [WholeNumber(1024, Unit = "bytes"), AtLeast(nameof(MaxMessageBytes))]
    public int OfflineQueuePerSenderBytes { get; set; } = 1024 * 1024;

    /// <summary>Longest accepted peer id (and message <c>dst</c>); ids follow the PeerJS client's rule.</summary>
    [WholeNumber(36, 256, Unit = "characters", Note = "generated ids have 36")]
    public int MaxIdLength { get; set; } = 64;

    /// <summary>Per-client limits group IPv6 clients by this prefix length (a /64 is one subscriber's network).</summary>
    [WholeNumber(32, 128, Unit = "bits")]
    public int ClientIpv6PrefixLength { get; set; } = 64;

    /// <summary>Most client groups (IPs, IPv6 prefixes) the per-client limits track at once; past it new clients are refused.</summary>
    [WholeNumber(16, Unit = "clients")]
    public int MaxClientPartitions { get; set; } = 50_000;

    /// <summary>
    /// Origins allowed to use the HTTP API and to open sockets: exact origins (<c>https://grafana.example.com</c>) or
    /// wildcard subdomains (<c>https://*.example.com</c>). Empty (the default) allows any origin, as the reference.
    /// </summary>
    [EnvironmentVariable("CORS_ORIGINS")]
    public string[] CorsOrigins { get; set; } = [];

    /// <summary>
    /// The service runs behind a reverse proxy: X-Forwarded-For/Proto are honoured, but only from
    /// <see cref="KnownProxies"/> (loopback when none are listed). Off: forwarded headers are ignored.
    /// </summary>
    [EnvironmentVariable("PROXIED")]
    public bool Proxied { get; set; }

    /// <summary>Addresses (<c>10.0.0.5</c>) or networks (<c>10.0.0.0/8</c>) of the proxies whose forwarded headers are trusted; implies <see cref="Proxied"/>.</summary>
    [EnvironmentVariable("KNOWN_PROXIES")]
    public string[] KnownProxies { get; set; } = [];

    /// <summary>Concurrent WebSockets per client IP (the seed's MAX_CONNECTIONS_PER_PEER); 0 = no limit.</summary>
    [EnvironmentVariable("MAX_CONNECTIONS_PER_PEER"), WholeNumber(0, Unit = "sockets", Note = "0 = no limit")]
    public int MaxConnectionsPerIp { get; set; } = 50;

    /// <summary>Rate limiting of the HTTP API and WebSocket upgrades per client IP; unset = off in Development, on elsewhere.</summary>
    [EnvironmentVariable("RATE_LIMIT_ENABLED")]
    public bool? RateLimitEnabled { get; set; }

    /// <summary>Requests (HTTP API calls and WebSocket upgrades) one client IP may make per <see cref="RateLimitWindow"/>.</summary>
    [EnvironmentVariable("RATE_LIMIT_MAX"), WholeNumber(1, Unit = "requests")]
    public int RateLimitMax { get; set; } = 100;

    /// <summary>The rate-limit window (ms): fixed windows, 15 minutes as the seed.</summary>
    [EnvironmentVariable("RATE_LIMIT_WINDOW_MS"), WholeNumber(1000, Unit = "milliseconds")]
    public int RateLimitWindow { get; set; } = 15 * 60 * 1000;

    /// <summary>Certificate for HTTPS/WSS directly from Kestrel: a PEM certificate (with <see cref="TlsKeyPath"/>) or a PKCS#12 (.pfx) file.</summary>
    [EnvironmentVariable("TLS_CERT_PATH")]
    public string? TlsCertificatePath { get; set; }

    /// <summary>PEM private key of <see cref="TlsCertificatePath"/> (omit for .pfx or a PEM holding both).</summary>
    [EnvironmentVariable("TLS_KEY_PATH")]
    public string? TlsKeyPath { get; set; }

    /// <summary>Password of the .pfx or of an encrypted PEM key. Never logged.</summary>
    [EnvironmentVariable("TLS_CERT_PASSWORD")]
    public string? TlsCertificatePassword { get; set; }

    /// <summary>
    /// Secret that signs peer tokens (<c>{expiry}.{signature}</c>, see <see cref="Protocol.SignedTokens"/>): at least
    /// 32 bytes of UTF-8 text. Set, every socket needs a valid token signed for its id, and a valid token takes its id
    /// over from the socket holding it. Unset (the default): any token, as the reference. Never logged.
    /// </summary>
    [EnvironmentVariable("PEERJS_TOKEN_SECRET")]
    public string? TokenSecret { get; set; }

    /// <summary>
    /// After a peer closes, its id stays reserved for its token this long (ms), cluster-wide: another token gets
    /// ID-TAKEN, the same token gets the id back. 0 (the default): the id is free at once.
    /// </summary>
    [EnvironmentVariable("ID_RESERVATION"), WholeNumber(0, 86_400_000, Unit = "milliseconds", Note = "0 = off")]
    public int IdReservation { get; set; }

    /// <summary>Whether tokens must be signed (<see cref="TokenSecret"/> is set).</summary>
    public bool SignedTokensOn => !string.IsNullOrEmpty(TokenSecret);

    /// <summary>Plain HTTP/1.1 upgrades to <c>{Path}/peerjs</c> are answered on Kestrel's connection itself (no HTTP request per socket).</summary>
    public bool UpgradeFastPath { get; set; } = true;

    /// <summary>Kestrel's socket transport runs socket completions inline (no thread hop per message).</summary>
    public bool InlineScheduling { get; set; } = true;

    /// <summary>
    /// The session lab at <c>/lab</c> (a live session with the real peerjs client, and a self-test); unset = on in
    /// Development, off elsewhere.
    /// </summary>
    [EnvironmentVariable("LAB_ENABLED")]
    public bool? Lab { get; set; }

    /// <summary>Whether the session lab is served in this environment.</summary>
    public bool LabOn(IHostEnvironment environment) => Lab ?? environment.IsDevelopment();

    /// <summary>Whether rate limiting is on in this environment.</summary>
    public bool RateLimitingOn(IHostEnvironment environment) => RateLimitEnabled ?? !environment.IsDevelopment();

    /// <summary>The path without a trailing slash ("" for the root), as routes are built from it.</summary>
    public string NormalizedPath => NormalizePath(Path);

    public static string NormalizePath(string path)
    {
        var trimmed = (path ?? string.Empty).Trim().TrimEnd('/');
        if (trimmed.Length > 0 && trimmed[0] != '/')
        {
            trimmed = "/" + trimmed;
        }

        return trimmed;
    }
}
