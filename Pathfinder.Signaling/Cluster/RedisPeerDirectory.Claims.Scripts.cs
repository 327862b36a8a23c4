namespace Pathfinder.Signaling.Cluster;

/// <summary>The Redis scripts of claims and leases (used by RedisPeerDirectory.Claims.cs). A presence value is <c>{replica}\n{token}\n{connectionId}</c>.</summary>
public sealed partial class RedisPeerDirectory
{
    private static class ClaimScripts
    {
        /// <summary>
        /// Claim an id. KEYS: peer, queue, expiry index, told, then (inline only) offline totals. ARGV: value, token,
        /// leaseMs, id, senderPrefix, inline ('1': give the queue's budget shares back here; '0': the replica gives
        /// them back, on a cluster where the budgets live in other slots).
        /// Returns {0} when another token holds the id; otherwise {1, previousValue or '', queuedEntries}: the lease is
        /// set to us and the offline queue is taken in the same step, so nothing can be enqueued behind our back.
        /// </summary>
        public const string Claim = OfflineScripts.Budget + """
            local cur = redis.call('GET', KEYS[1])
            local prev = ''
            if cur then
              local a = string.find(cur, '\n', 1, true)
              local b = string.find(cur, '\n', a + 1, true)
              if string.sub(cur, a + 1, b - 1) ~= ARGV[2] then return {0} end
              prev = cur
            end
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
            local q = redis.call('LRANGE', KEYS[2], 0, -1)
            if #q > 0 then
              redis.call('DEL', KEYS[2])
              if ARGV[6] == '1' then give_back(KEYS[5], ARGV[5], q) end
            end
            redis.call('DEL', KEYS[4])
            redis.call('ZREM', KEYS[3], ARGV[4])
            return {1, prev, q}
            """;

        /// <summary>Compare-and-delete. KEYS: peer. ARGV: value. A newer registration (other value) is left alone.</summary>
        public const string Release = """
            if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
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
