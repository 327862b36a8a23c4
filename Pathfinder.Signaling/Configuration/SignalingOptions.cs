namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// The PeerJS server settings (configuration section <c>Signaling</c>). Names and defaults follow the seed's
/// reference server; times are whole milliseconds as in the reference.
/// </summary>
public sealed class SignalingOptions
{
    public const string SectionName = "Signaling";

    /// <summary>HTTP port used when no URLs are configured for the host (ASPNETCORE_URLS, --urls, Kestrel endpoints).</summary>
    public int Port { get; set; } = 9000;

    /// <summary>Mount path of the HTTP API; the WebSocket lives at <c>{Path}/peerjs</c>.</summary>
    public string Path { get; set; } = "/pathfinder";

    /// <summary>The only key accepted on the WebSocket and the HTTP API.</summary>
    public string Key { get; set; } = "pathfinder";

    /// <summary>A peer whose last HEARTBEAT is older than this is dropped (ms).</summary>
    public int AliveTimeout { get; set; } = 60_000;

    /// <summary>Age after which an offline destination's queued messages expire and senders get EXPIRE (ms).</summary>
    public int ExpireTimeout { get; set; } = 5_000;

    /// <summary>Maximum number of registered peers; checked only when a new id registers.</summary>
    public int ConcurrentLimit { get; set; } = 5_000;

    /// <summary>
    /// Hard cap on peer sockets of this process; 0 (default) derives it from the open-file limit (soft
    /// RLIMIT_NOFILE minus 2 %, at least 128). The effective limit is the smaller of this and ConcurrentLimit.
    /// </summary>
    public int MaxConnections { get; set; }

    /// <summary>Enables <c>GET {Path}/{key}/peers</c>.</summary>
    public bool AllowDiscovery { get; set; }

    /// <summary>Period of the offline-queue expiry sweep (ms), the reference's cleanup_out_msgs.</summary>
    public int CleanupOutMsgs { get; set; } = 1_000;

    /// <summary>Period of the liveness sweep (ms).</summary>
    public int LivenessCheckInterval { get; set; } = 1_000;

    /// <summary>Largest accepted WebSocket message in bytes (64 KiB covers a large SDP); a larger one closes that sender (1009).</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Frames waiting to be written to one peer; a peer that lets it fill up is a slow consumer and is closed.</summary>
    public int SendQueueCapacity { get; set; } = 512;

    /// <summary>
    /// Bytes waiting to be written to one peer (control-frame replies included); a peer that lets it fill up is a slow
    /// consumer and is closed. At least <see cref="MaxMessageBytes"/>.
    /// </summary>
    public int SendQueueBytes { get; set; } = 1024 * 1024;

    /// <summary>Relayed messages (OFFER, ANSWER, CANDIDATE, LEAVE) one connection may send per second on average (token bucket refill).</summary>
    public int RelayMessagesPerSecond { get; set; } = 400;

    /// <summary>Relayed messages one connection may send in a burst (token bucket size).</summary>
    public int RelayMessageBurst { get; set; } = 4_000;

    /// <summary>Relayed bytes one connection may send per second on average (token bucket refill).</summary>
    public int RelayBytesPerSecond { get; set; } = 1024 * 1024;

    /// <summary>Relayed bytes one connection may send in a burst (token bucket size); at least <see cref="MaxMessageBytes"/>.</summary>
    public int RelayByteBurst { get; set; } = 4 * 1024 * 1024;

    /// <summary>Messages kept for one offline destination.</summary>
    public int OfflineQueuePerPeer { get; set; } = 256;

    /// <summary>Bytes kept in all offline queues together (in memory, or across the cluster in Redis).</summary>
    public long OfflineQueueTotalBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Messages kept in all offline queues together (in memory, or across the cluster in Redis).</summary>
    public int OfflineQueueTotalMessages { get; set; } = 100_000;

    /// <summary>Messages one sender may have waiting in offline queues; past it the sender gets EXPIRE at once.</summary>
    public int OfflineQueuePerSender { get; set; } = 256;

    /// <summary>Bytes one sender may have waiting in offline queues; past it the sender gets EXPIRE at once.</summary>
    public int OfflineQueuePerSenderBytes { get; set; } = 1024 * 1024;

    /// <summary>Longest accepted peer id (and message <c>dst</c>); ids follow the PeerJS client's rule.</summary>
    public int MaxIdLength { get; set; } = 64;

    /// <summary>Per-client limits group IPv6 clients by this prefix length (a /64 is one subscriber's network).</summary>
    public int ClientIpv6PrefixLength { get; set; } = 64;

    /// <summary>Most client groups (IPs, IPv6 prefixes) the per-client limits track at once; past it new clients are refused.</summary>
    public int MaxClientPartitions { get; set; } = 50_000;

    /// <summary>
    /// Origins allowed to use the HTTP API and to open sockets: exact origins (<c>https://grafana.example.com</c>) or
    /// wildcard subdomains (<c>https://*.example.com</c>). Empty (the default) allows any origin, as the reference.
    /// </summary>
    public string[] CorsOrigins { get; set; } = [];

    /// <summary>
    /// The service runs behind a reverse proxy: X-Forwarded-For/Proto are honoured, but only from
    /// <see cref="KnownProxies"/> (loopback when none are listed). Off: forwarded headers are ignored.
    /// </summary>
    public bool Proxied { get; set; }

    /// <summary>Addresses (<c>10.0.0.5</c>) or networks (<c>10.0.0.0/8</c>) of the proxies whose forwarded headers are trusted; implies <see cref="Proxied"/>.</summary>
    public string[] KnownProxies { get; set; } = [];

    /// <summary>Concurrent WebSockets per client IP (the seed's MAX_CONNECTIONS_PER_PEER); 0 = no limit.</summary>
    public int MaxConnectionsPerIp { get; set; } = 50;

    /// <summary>Rate limiting of the HTTP API and WebSocket upgrades per client IP; unset = off in Development, on elsewhere.</summary>
    public bool? RateLimitEnabled { get; set; }

    /// <summary>Requests (HTTP API calls and WebSocket upgrades) one client IP may make per <see cref="RateLimitWindow"/>.</summary>
    public int RateLimitMax { get; set; } = 100;

    /// <summary>The rate-limit window (ms): fixed windows, 15 minutes as the seed.</summary>
    public int RateLimitWindow { get; set; } = 15 * 60 * 1000;

    /// <summary>Certificate for HTTPS/WSS directly from Kestrel: a PEM certificate (with <see cref="TlsKeyPath"/>) or a PKCS#12 (.pfx) file.</summary>
    public string? TlsCertificatePath { get; set; }

    /// <summary>PEM private key of <see cref="TlsCertificatePath"/> (omit for .pfx or a PEM holding both).</summary>
    public string? TlsKeyPath { get; set; }

    /// <summary>Password of the .pfx or of an encrypted PEM key. Never logged.</summary>
    public string? TlsCertificatePassword { get; set; }

    /// <summary>Plain HTTP/1.1 upgrades to <c>{Path}/peerjs</c> are answered on Kestrel's connection itself (no HTTP request per socket).</summary>
    public bool UpgradeFastPath { get; set; } = true;

    /// <summary>Kestrel's socket transport runs socket completions inline (no thread hop per message).</summary>
    public bool InlineScheduling { get; set; } = true;

    /// <summary>
    /// The session lab at <c>/lab</c> (a live session with the real peerjs client, and a self-test); unset = on in
    /// Development, off elsewhere.
    /// </summary>
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
