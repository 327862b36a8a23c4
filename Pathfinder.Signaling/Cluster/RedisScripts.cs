namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// The Lua scripts that make each cluster operation atomic and one round trip. Key and channel names are passed in
/// from <see cref="RedisKeys"/>. A presence value is <c>{replica}\n{token}\n{connectionId}</c>.
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// Claim an id. KEYS: peer, queue, queues, told. ARGV: value, token, leaseMs, id.
    /// Returns {0} when another token holds the id; otherwise {1, previousValue or '', queuedEntries}: the lease is
    /// set to us and the offline queue is taken in the same step, so nothing can be enqueued behind our back.
    /// </summary>
    public const string Claim = """
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
        if #q > 0 then redis.call('DEL', KEYS[2]) end
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
    /// Route a message to a peer that is not on this replica. KEYS: peer, queue, queues, told.
    /// ARGV: channelPrefix, envelope, queueable (1/0), queueEntry, deadlineMs, dstId, perPeerLimit, queueTtlMs,
    /// skipReplica, src.
    /// Returns 1 delivered to the owner's replica, 2 queued, 0 dropped (not queueable), 3 queue full (tell the
    /// sender), 4 queue full (sender already told).
    /// A publish that reaches no subscriber (the owner's replica died; its lease has not run out) counts as absent.
    /// </summary>
    public const string Route = """
        local cur = redis.call('GET', KEYS[1])
        if cur then
          local owner = string.sub(cur, 1, string.find(cur, '\n', 1, true) - 1)
          if owner ~= ARGV[9] then
            if redis.call('PUBLISH', ARGV[1] .. owner, ARGV[2]) > 0 then return 1 end
          end
        end
        if ARGV[3] ~= '1' then return 0 end
        if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[7]) then
          if redis.call('SADD', KEYS[4], ARGV[10]) == 1 then
            redis.call('PEXPIRE', KEYS[4], ARGV[8])
            return 3
          end
          return 4
        end
        redis.call('RPUSH', KEYS[2], ARGV[4])
        redis.call('PEXPIRE', KEYS[2], ARGV[8])
        redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[6])
        return 2
        """;

    /// <summary>
    /// Take every offline queue whose deadline has passed. KEYS: queues. ARGV: nowMs, maxQueues, queuePrefix,
    /// toldPrefix. Returns {{id, entries, told}, …}. Atomic, so each expired queue goes to exactly one replica.
    /// </summary>
    public const string TakeExpired = """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
        local out = {}
        for _, id in ipairs(due) do
          redis.call('ZREM', KEYS[1], id)
          local qk = ARGV[3] .. id
          local q = redis.call('LRANGE', qk, 0, -1)
          redis.call('DEL', qk)
          local tk = ARGV[4] .. id
          local told = redis.call('SMEMBERS', tk)
          redis.call('DEL', tk)
          out[#out + 1] = {id, q, told}
        end
        return out
        """;

    /// <summary>
    /// Renew (or re-register after an outage) this replica's leases. KEYS: peer keys. ARGV: leaseMs, value per key.
    /// Returns the 1-based indexes of keys now held by someone else: those local connections were superseded.
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
