using System.Text;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// Every Redis key and channel the cluster uses, in one place. All names start with the configured prefix
/// (default <c>pathfinder</c>), so several clusters can share one Redis. The braces are literal: a hash tag, so every
/// key of one id (and the sender budget of that id) lives in one hash slot, and every script touches one slot — the
/// same layout serves one primary and a Redis Cluster.
/// <list type="table">
/// <item><term><c>{prefix}:peer:{id}</c></term><description>STRING, the presence lease of a peer id:
/// <c>{replica}\n{token}\n{connectionId}</c>, with PX = the lease; set NX by a claim, renewed in batches by the owning
/// replica (a script per batch on one primary; pipelined PEXPIRE + GET on a cluster, where a script batches one slot), removed by compare-and-delete on close.</description></item>
/// <item><term><c>{prefix}:queue:{id}</c></term><description>LIST, the offline queue of an absent id; each entry is the
/// bare cluster envelope (src inside). No TTL of its own: a queue leaves only through a claim (delivered) or the expiry
/// sweep (expired), and both give its budget shares back.</description></item>
/// <item><term><c>{prefix}:told:{id}</c></term><description>SET of senders already told (EXPIRE) that the offline
/// queue of an id cannot take more; PEXPIREs with the queue's lifetime.</description></item>
/// <item><term><c>{prefix}:sender:{src}</c></term><description>HASH <c>messages</c>, <c>bytes</c>: what one sender
/// has waiting in offline queues (the per-sender budget); deleted when it reaches zero.</description></item>
/// <item><term><c>{prefix}:offline</c></term><description>HASH <c>messages</c>, <c>bytes</c>: what all offline queues
/// hold together (the cluster-wide budget); deleted when it reaches zero. On a cluster it is touched only when a
/// message is queued or a queue leaves (single-key scripts), never on a live relay.</description></item>
/// <item><term><c>{prefix}:queues</c> (one primary) or <c>{prefix}:due:{tag}</c> (cluster)</term><description>ZSET of
/// ids with an offline queue, scored by the queue's expiry deadline (unix ms of its first message + expire timeout):
/// the expiry sweep takes due members atomically. On a cluster there is one per hash slot (<c>tag</c> is a short
/// string of that slot, <see cref="SlotTag"/>), written in the same script as the queue it indexes.</description></item>
/// <item><term><c>{prefix}:replica:{replica}</c></term><description>CHANNEL of one replica: envelopes for peers
/// connected to it (see <see cref="ClusterEnvelope"/>). Classic pub/sub (PUBLISH, inside the route script) on one
/// primary; sharded pub/sub (SPUBLISH/SSUBSCRIBE, by the replica after the script) on a cluster, so a message goes to
/// the one shard of the owner's channel instead of every node.</description></item>
/// </list>
/// <para>
/// On one primary every script may touch several slots, so a route call still routes a whole batch, budgets
/// included, in one script. On a Redis Cluster the route goes per slot (one script per slot of the batch, pipelined),
/// the publish follows the script, and the offline budgets, in other slots than the queue, are reserved before the
/// message is queued and given back when it is not (or when its queue leaves) by single-key scripts: every update
/// stays on one slot. A replica that dies between a reservation and its give-back leaves that share counted.
/// </para>
/// </summary>
public sealed class RedisKeys(string prefix)
{
    /// <summary>Hash slots of a Redis Cluster.</summary>
    public const int SlotCount = 16384;

    private static readonly Lazy<string[]> Tags = new(BuildTags);

    public string Prefix { get; } = prefix;

    public RedisKey Peer(string id) => $"{Prefix}:peer:{{{id}}}";

    public RedisKey Queue(string id) => $"{Prefix}:queue:{{{id}}}";

    /// <summary>The expiry index of a single primary (one ZSET).</summary>
    public RedisKey Queues { get; } = $"{prefix}:queues";

    /// <summary>The expiry index of one hash slot (a cluster's).</summary>
    public RedisKey Due(int slot) => $"{Prefix}:due:{{{SlotTag(slot)}}}";

    /// <summary>SET of senders already told (EXPIRE) that the offline queue of an id is full.</summary>
    public RedisKey Told(string id) => $"{Prefix}:told:{{{id}}}";

    /// <summary>HASH (messages, bytes) of everything in offline queues: the cluster-wide budget.</summary>
    public RedisKey OfflineTotals { get; } = $"{prefix}:offline";

    /// <summary>HASH (messages, bytes) of what one sender has waiting in offline queues; hash-tagged by sender.</summary>
    public RedisKey Sender(string src) => $"{SenderPrefix}{src}}}";

    /// <summary>A sender's budget key is this, the sender's id and <c>}</c> (the scripts build it from an entry's src).</summary>
    public string SenderPrefix => $"{Prefix}:sender:{{";

    /// <summary>A queue key is this, the id and <c>}</c>.</summary>
    public string QueuePrefix => $"{Prefix}:queue:{{";

    /// <summary>A presence key is this, the id and <c>}</c>.</summary>
    public string PeerPrefix => $"{Prefix}:peer:{{";

    /// <summary>A told key is this, the id and <c>}</c>.</summary>
    public string ToldPrefix => $"{Prefix}:told:{{";

    /// <summary>The pattern that matches every presence key (for the peer list).</summary>
    public RedisValue PeerPattern => $"{Prefix}:peer:{{*";

    /// <summary>The id of a presence key.</summary>
    public string IdOfPeerKey(string key) => key[(Prefix.Length + ":peer:{".Length)..^1];

    /// <summary>The channel prefix; a replica's channel is this followed by its id (the route script appends it).</summary>
    public string ReplicaChannelPrefix => $"{Prefix}:replica:";

    /// <summary>A replica's channel: sharded on a Redis Cluster, classic on one primary.</summary>
    public RedisChannel Replica(string replicaId, bool sharded) => sharded
        ? RedisChannel.Sharded(ReplicaChannelPrefix + replicaId)
        : RedisChannel.Literal(ReplicaChannelPrefix + replicaId);

    /// <summary>The hash slot of an id's keys (CRC16 of the id, the hash tag, mod 16384), as Redis Cluster computes it.</summary>
    public static int SlotOf(string id)
    {
        Span<byte> bytes = stackalloc byte[Encoding.UTF8.GetMaxByteCount(id.Length)];
        var length = Encoding.UTF8.GetBytes(id, bytes);
        return Crc16(bytes[..length]) % SlotCount;
    }

    /// <summary>A short string whose hash slot is <paramref name="slot"/> (the same on every replica).</summary>
    public static string SlotTag(int slot) => Tags.Value[slot];

    private static int Crc16(ReadOnlySpan<byte> data)
    {
        ushort crc = 0;
        foreach (var b in data)
        {
            crc ^= (ushort)(b << 8);
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
            }
        }

        return crc;
    }

    // The first base-36 number (in counting order) of each slot: deterministic, at most a few characters.
    private static string[] BuildTags()
    {
        var tags = new string[SlotCount];
        var left = SlotCount;
        for (var n = 0L; left > 0; n++)
        {
            var tag = ToBase36(n);
            var slot = SlotOf(tag);
            if (tags[slot] is null)
            {
                tags[slot] = tag;
                left--;
            }
        }

        return tags;
    }

    private static string ToBase36(long n)
    {
        const string digits = "0123456789abcdefghijklmnopqrstuvwxyz";
        Span<char> buffer = stackalloc char[16];
        var i = buffer.Length;
        do
        {
            buffer[--i] = digits[(int)(n % 36)];
            n /= 36;
        }
        while (n > 0);
        return new string(buffer[i..]);
    }
}
