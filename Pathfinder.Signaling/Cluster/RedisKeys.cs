using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// Every Redis key and channel the cluster uses, in one place. All names start with the configured prefix
/// (default <c>pathfinder</c>), so several clusters can share one Redis.
/// <list type="table">
/// <item><term><c>{prefix}:peer:{id}</c></term><description>STRING, the presence lease of a peer id:
/// <c>{replica}\n{token}\n{connectionId}</c>, with PX = the lease; set NX by a claim, renewed in batches by the owning
/// replica, removed by compare-and-delete on close.</description></item>
/// <item><term><c>{prefix}:queue:{id}</c></term><description>LIST, the offline queue of an absent id; each entry is
/// <c>{src}\n{frame}</c>. PEXPIREs on its own well after the expire timeout as a safety net.</description></item>
/// <item><term><c>{prefix}:queues</c></term><description>ZSET of ids with an offline queue, scored by the queue's expiry
/// deadline (unix ms of its first message + expire timeout): the expiry sweep takes due members atomically.</description></item>
/// <item><term><c>{prefix}:replica:{replica}</c></term><description>pub/sub CHANNEL of one replica: envelopes for
/// peers connected to it (see <see cref="ClusterEnvelope"/>).</description></item>
/// </list>
/// Not for Redis Cluster mode (the scripts touch keys of several slots): use a single primary (with replicas or
/// Sentinel for availability).
/// </summary>
public sealed class RedisKeys(string prefix)
{
    public string Prefix { get; } = prefix;

    public RedisKey Peer(string id) => $"{Prefix}:peer:{id}";

    public RedisKey Queue(string id) => $"{Prefix}:queue:{id}";

    public RedisKey Queues { get; } = $"{prefix}:queues";

    /// <summary>SET of senders already told (EXPIRE) that the offline queue of an id is full.</summary>
    public RedisKey Told(string id) => $"{Prefix}:told:{id}";

    public string QueuePrefix => $"{Prefix}:queue:";

    public string ToldPrefix => $"{Prefix}:told:";

    /// <summary>The pattern that matches every presence key (for the peer list).</summary>
    public RedisValue PeerPattern => $"{Prefix}:peer:*";

    public int PeerKeyPrefixLength => Prefix.Length + ":peer:".Length;

    /// <summary>The channel prefix; a replica's channel is this followed by its id (the route script appends it).</summary>
    public string ReplicaChannelPrefix => $"{Prefix}:replica:";

    public RedisChannel Replica(string replicaId) => RedisChannel.Literal(ReplicaChannelPrefix + replicaId);
}
