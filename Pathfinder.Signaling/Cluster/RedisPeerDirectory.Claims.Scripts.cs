namespace Pathfinder.Signaling.Cluster;

/// <summary>The Redis scripts of claims and leases (used by RedisPeerDirectory.Claims.cs and .Leases.cs). A presence value is <c>{replica}\n{token}\n{connectionId}</c>.</summary>
public sealed partial class RedisPeerDirectory
{
    private static class ClaimScripts
    {
        /// <summary>
        /// Claim an id. KEYS: peer, queue, expiry index, told. ARGV: value, token, leaseMs, id, signed ('1': the token
        /// was verified as signed for this id, so it takes the id from any holder or reservation).
        /// Returns {0} when another token holds or reserves the id; otherwise {1, previousValue or '', queuedEntries}:
        /// the lease is set to us and the offline queue read in the same step, so nothing can be enqueued behind our
        /// back (with the lease set, senders route live). The queue is only read: <see cref="Delivered"/> removes what
        /// was handed over, once it was. A claim that runs after its client was refused (a Redis timeout) therefore
        /// takes nothing away from the next claimer. previousValue is the live holder taken over (its replica closes
        /// it); a reservation (a value with no replica, <c>\n{token}\n</c>, see <see cref="Release"/>) has no holder.
        /// </summary>
        public const string Claim = """
            local cur = redis.call('GET', KEYS[1])
            local prev = ''
            if cur then
              local a = string.find(cur, '\n', 1, true)
              local b = string.find(cur, '\n', a + 1, true)
              if ARGV[5] ~= '1' and string.sub(cur, a + 1, b - 1) ~= ARGV[2] then return {0} end
              if a > 1 then prev = cur end
            end
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
            local q = redis.call('LRANGE', KEYS[2], 0, -1)
            if #q == 0 then
              redis.call('DEL', KEYS[4])
              redis.call('ZREM', KEYS[3], ARGV[4])
            end
            return {1, prev, q}
            """;

        /// <summary>
        /// The first n entries of a claimed id's offline queue were handed to its new holder: remove them. KEYS: peer,
        /// queue, expiry index, told, then (inline only) offline totals. ARGV: value, n, id, senderPrefix, inline ('1':
        /// give the entries' budget shares back here; '0': return the entries, for the replica to give back on a
        /// cluster, where the budgets live in other slots). Does nothing when the lease is no longer ours (whoever holds
        /// it now was handed the same entries and removes them). Entries are only ever appended (RPUSH) while nobody
        /// holds the id, so the first n are the ones handed over. Returns the removed entries (inline: none).
        /// </summary>
        public const string Delivered = OfflineScripts.Budget + """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {} end
            local n = tonumber(ARGV[2])
            local q = redis.call('LRANGE', KEYS[2], 0, n - 1)
            redis.call('LTRIM', KEYS[2], n, -1)
            if redis.call('LLEN', KEYS[2]) == 0 then
              redis.call('DEL', KEYS[4])
              redis.call('ZREM', KEYS[3], ARGV[3])
            end
            if ARGV[5] == '1' then
              give_back(KEYS[5], ARGV[4], q)
              return {}
            end
            return q
            """;

        /// <summary>
        /// Compare-and-delete, or compare-and-reserve. KEYS: peer. ARGV: value, reservationMs, reserved value
        /// (<c>\n{token}\n</c>: no replica owns it). A newer registration (other value) is left alone. With a reservation
        /// (> 0) the key is kept as the reserved value for that long instead of deleted: <see cref="Claim"/> gives it to
        /// the same token (or a signed one) only; routing finds no live owner and queues as for an absent peer.
        /// </summary>
        public const string Release = """
            if redis.call('GET', KEYS[1]) == ARGV[1] then
              if tonumber(ARGV[2]) > 0 then
                redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
                return 1
              end
              return redis.call('DEL', KEYS[1])
            end
            return 0
            """;

        /// <summary>
        /// Renew (or re-register after an outage) this replica's leases. KEYS: peer keys (of one slot on a cluster).
        /// ARGV: leaseMs, value per key. Returns the 1-based indexes of keys now held by someone else: those local
        /// connections were superseded.
        /// </summary>
        public const string Renew = """
            local lost = {}
            for i, k in ipairs(KEYS) do
              local v = ARGV[i + 1]
              local cur = redis.call('GET', k)
              if cur == v then
                redis.call('PEXPIRE', k, ARGV[1])
              elseif not cur then
                redis.call('SET', k, v, 'PX', ARGV[1])
              else
                lost[#lost + 1] = i
              end
            end
            return lost
            """;
    }
}
