using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// Every Redis key and channel the cluster uses, in one place. All names start with the configured prefix
/// (default <c>pathfinder</c>), so several clusters can share one Redis.
/// <list type="table">
/// <item><term><c>{prefix}:peer:{id}</c></term><description>STRING, the presence lease of a peer id:
/// <c>{replica}\n{token}\n{connectionId}</c>, with PX = the lease; set NX by a claim, renewed in batches by the owning
/// replica, removed by compare-and-delete on close.</description></item>
/// <item><term><c>{prefix}:queue:{id}</c></term><description>LIST, the offline queue of an absent id; each entry is the
/// bare cluster envelope (src inside). No TTL of its own: a queue leaves only through a claim (delivered) or the expiry
/// sweep (expired), and both give its budget shares back in the same script, so the budgets below never drift.
/// </description></item>
/// <item><term><c>{prefix}:offline</c></term><description>HASH <c>messages</c>, <c>bytes</c>: what all offline queues
/// hold together (the cluster-wide budget); deleted when it reaches zero.</description></item>
/// <item><term><c>{prefix}:sender:{src}</c></term><description>HASH <c>messages</c>, <c>bytes</c>: what one sender
/// has waiting in offline queues (the per-sender budget); the braces are literal (a hash tag: the sender's slot); deleted
/// when it reaches zero.
/// </description></item>
/// <item><term><c>{prefix}:told:{id}</c></term><description>SET of senders already told (EXPIRE) that the offline
/// queue of an id cannot take more; PEXPIREs with the queue's lifetime.</description></item>
/// <item><term><c>{prefix}:queues</c></term><description>ZSET of ids with an offline queue, scored by the queue's expiry
/// deadline (unix ms of its first message + expire timeout): the expiry sweep takes due members atomically.</description></item>
/// <item><term><c>{prefix}:replica:{replica}</c></term><description>pub/sub CHANNEL of one replica: envelopes for
/// peers connected to it (see <see cref="ClusterEnvelope"/>).</description></item>
/// </list>
/// Not for Redis Cluster mode (the scripts touch keys of several slots): use a single primary (with replicas or
/// Sentinel for availability).
/// <para>
/// On a Redis Cluster the offline budgets would be kept like this: the per-sender hash is already hash-tagged by its
/// sender, so reserving a sender's share is one HINCRBY script in that sender's slot, run before the message is
/// queued in its destination's slot (and given back by the same small script if queuing fails); the take (claim or
/// expiry, destination slot) returns each entry's sender and size, and the replica gives the shares back per sender
/// slot. The global total cannot live in one slot without making it every replica's hot key: it would be split into
/// N shard counters <c>{prefix}:offline:{n}</c> (n = hash of the sender mod N, each in its own slot, each allowed
/// total/N) — the same reserve/give-back as the sender's — with the sweep reconciling each shard against the queues
/// it finds. Every update stays a command on one key, so no script needs keys of two slots.
/// </para>
/// </summary>
public sealed class RedisKeys(string prefix)
{
    public string Prefix { get; } = prefix;

    public RedisKey Peer(string id) => $"{Prefix}:peer:{id}";

    public RedisKey Queue(string id) => $"{Prefix}:queue:{id}";

    public RedisKey Queues { get; } = $"{prefix}:queues";

    /// <summary>SET of senders already told (EXPIRE) that the offline queue of an id is full.</summary>
    public RedisKey Told(string id) => $"{Prefix}:told:{id}";

    /// <summary>HASH (messages, bytes) of everything in offline queues: the cluster-wide budget.</summary>
    public RedisKey OfflineTotals { get; } = $"{prefix}:offline";

    /// <summary>HASH (messages, bytes) of what one sender has waiting in offline queues; hash-tagged by sender.</summary>
    public RedisKey Sender(string src) => $"{SenderPrefix}{src}}}";

    /// <summary>A sender's budget key is this, the sender's id and <c>}</c> (the scripts build it from an entry's src).</summary>
    public string SenderPrefix => $"{Prefix}:sender:{{";

    public string QueuePrefix => $"{Prefix}:queue:";

    public string ToldPrefix => $"{Prefix}:told:";

    /// <summary>The pattern that matches every presence key (for the peer list).</summary>
    public RedisValue PeerPattern => $"{Prefix}:peer:*";

    public int PeerKeyPrefixLength => Prefix.Length + ":peer:".Length;

    /// <summary>The channel prefix; a replica's channel is this followed by its id (the route script appends it).</summary>
    public string ReplicaChannelPrefix => $"{Prefix}:replica:";

    public RedisChannel Replica(string replicaId) => RedisChannel.Literal(ReplicaChannelPrefix + replicaId);
}
