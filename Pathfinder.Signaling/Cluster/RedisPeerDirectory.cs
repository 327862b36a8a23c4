using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// The peer directory shared by every replica through Redis: presence leases (cluster-wide ids), delivery to the
/// replica that owns a peer over pub/sub, offline queues and their expiry. Each operation is one Lua script, one
/// round trip. Messages arriving on this replica's channel are handed to local peers with a non-blocking
/// <see cref="IPeerConnection.TrySend"/> — a client socket is never awaited inside a Redis callback.
/// <para>
/// Claims are decided by Redis, and only by Redis. A claim whose script fails or times out (Redis down, stalled,
/// paused) is refused: the client gets the protocol's ERROR with a retryable text
/// (<see cref="ServerMessages.RegistrationUnavailableText"/>) and its socket closes; there is no local fallback, so
/// a slow or absent Redis never grants an id. A compare-and-delete of the refused claim's lease follows it on the
/// same connection, so a claim that Redis runs late (after the client gave up on it) leaves no orphaned lease.
/// </para>
/// <para>
/// Outage policy (Redis unreachable): connections already registered keep their ids and peers on the same replica
/// keep relaying; new ids are refused as above; a message for a peer that is not on this replica is answered at once
/// with EXPIRE to its sender (the client reports peer-unavailable) instead of being lost silently; the peer list
/// falls back to local ids; readiness reports the backplane unhealthy. When Redis answers again, the lease loop
/// (<see cref="PresenceLeaseService"/>, every third of the lease and at once on reconnect) renews every local lease:
/// one still ours is extended, one that ran out meanwhile is taken again if nobody else took it, and one now held by
/// another token closes the local socket (reason takeover, log event 108). A second holder can only appear through a
/// lease that ran out, and the first renewal after Redis is back finds it, so no id is held by two sockets for longer
/// than one lease after Redis answers again.
/// </para>
/// <para>
/// <c>concurrent_limit</c> is exact: a claim for an id that is new on this replica reserves a slot (registered peers
/// plus claims in flight, counted under one lock) before its round trip, and gives it back unless it registers.
/// </para>
/// <para>
/// One file per job: claims (RedisPeerDirectory.Claims.cs) and leases (.Leases.cs), routing and publish batching (.Routing.cs),
/// the subscription and dispatch (.Subscription.cs), offline queues and expiry (.Offline.cs), listing (.Listing.cs).
/// Routing on a Redis Cluster (one slot per script, sharded pub/sub) is in .SlotRouting.cs. Every key is named in
/// <see cref="RedisKeys"/>; each job's scripts are beside it (RedisPeerDirectory.{Job}.Scripts.cs).
/// </para>
/// </summary>
public sealed partial class RedisPeerDirectory : IPeerDirectory, IDisposable
{
    private readonly IConnectionMultiplexer _redis;
    private readonly LocalPeerTable _local;
    private readonly TimeProvider _time;
    private readonly SignalingMetrics _metrics;
    private readonly ILogger<RedisPeerDirectory> _logger;
    private readonly RedisKeys _keys;
    private readonly SignalingOptions _settings;
    private readonly int _leaseMs;
    private readonly ConcurrentDictionary<string, PendingClaim> _pending = new(StringComparer.Ordinal);
    private readonly Lock _slots = new();
    private int _claiming;
    private readonly SemaphoreSlim[] _claimGates = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];
    private readonly RouteOutbox _outbox;
    private ChannelMessageQueue? _subscription;

    public RedisPeerDirectory(
        IConnectionMultiplexer redis,
        LocalPeerTable local,
        TimeProvider time,
        IOptions<SignalingOptions> options,
        IOptions<ClusterOptions> cluster,
        ReplicaIdentity replica,
        SignalingMetrics metrics,
        ILogger<RedisPeerDirectory> logger)
    {
        _redis = redis;
        _local = local;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _settings = options.Value;
        _leaseMs = cluster.Value.LeaseMilliseconds;
        _keys = new RedisKeys(cluster.Value.KeyPrefix);
        ReplicaId = replica.Id;
        _outbox = new RouteOutbox(RouteBatchAsync, OutboxCapacity, OutboxByteCapacity);
    }

    /// <summary>This replica's id on the backplane.</summary>
    public string ReplicaId { get; }

    private IDatabase Db => _redis.GetDatabase();

    private bool? _cluster;

    /// <summary>
    /// Whether the connection reached a Redis Cluster (scripts per slot, sharded pub/sub) rather than one primary:
    /// read from the first connected server (no setting); until one answered, nothing reaches Redis anyway.
    /// </summary>
    public bool IsCluster
    {
        get
        {
            if (_cluster is { } known)
            {
                return known;
            }

            foreach (var server in _redis.GetServers())
            {
                if (server.IsConnected)
                {
                    _cluster = server.ServerType == ServerType.Cluster;
                    return _cluster.Value;
                }
            }

            return false;
        }
    }

    /// <summary>True once this replica listens on its channel.</summary>
    public bool IsSubscribed => _subscription is not null;

    private long NowMicroseconds() => (_time.GetUtcNow().UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;

    /// <summary>Leaves this replica's channel (on shutdown, while the Redis client is still alive).</summary>
    public async Task StopAsync()
    {
        if (_subscription is { } subscription)
        {
            _subscription = null;
            try
            {
                await subscription.UnsubscribeAsync();
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                ClusterLog.PublishFailed(_logger, ex.Message);
            }
        }
    }

    public void Dispose()
    {
        foreach (var gate in _claimGates)
        {
            gate.Dispose();
        }
    }
}
