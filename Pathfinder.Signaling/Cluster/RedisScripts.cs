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
    /// Route a batch of messages (in the order they were sent) to peers that are not on this replica.
    /// KEYS: queues, then per message: peer, queue, told.
    /// ARGV: channelPrefix, perPeerLimit, queueTtlMs, deadlineMs, thisReplica, then per message: framed envelope
    /// (int32 length + envelope), dstId, src, flags (bit 0: queueable; bit 1: re-routed, never publish to thisReplica).
    /// Every message for a live owner joins that owner's bundle (<c>\0</c> + the framed envelopes, in order), and each
    /// bundle is one PUBLISH. Returns one code per message: 1 delivered to the owner's replica, 2 queued, 0 dropped
    /// (not queueable), 3 queue full (tell the sender), 4 queue full (sender already told), 5 the owner is this
    /// replica (nothing published: the caller hands it over in order; a re-routed message is queued instead). A bundle
    /// that reaches no subscriber (the owner's replica died; its lease has not run out) counts as absent: its messages
    /// are queued. All of a destination's messages in one call share its fate, so their order holds.
    /// </summary>
    public const string RouteMany = """
        local prefix, limit, ttl, deadline, self = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
        local n = (#KEYS - 1) / 3
        local owner_of, bundles, order, codes = {}, {}, {}, {}
        for i = 1, n do
          local a = 5 + (i - 1) * 4
          local cur = redis.call('GET', KEYS[(i - 1) * 3 + 2])
          if cur then
            local owner = string.sub(cur, 1, string.find(cur, '\n', 1, true) - 1)
            if owner == self then
              if tonumber(ARGV[a + 4]) < 2 then codes[i] = 5 end
            else
              local b = bundles[owner]
              if not b then
                b = {'\0'}
                bundles[owner] = b
                order[#order + 1] = owner
              end
              b[#b + 1] = ARGV[a + 1]
              owner_of[i] = owner
            end
          end
        end
        local dead = {}
        for _, owner in ipairs(order) do
          if redis.call('PUBLISH', prefix .. owner, table.concat(bundles[owner])) == 0 then dead[owner] = true end
        end
        for i = 1, n do
          local owner = owner_of[i]
          if codes[i] == 5 then
          elseif owner and not dead[owner] then
            codes[i] = 1
          else
            local a = 5 + (i - 1) * 4
            local k = (i - 1) * 3 + 2
            if tonumber(ARGV[a + 4]) % 2 == 0 then
              codes[i] = 0
            elseif redis.call('LLEN', KEYS[k + 1]) >= limit then
              if redis.call('SADD', KEYS[k + 2], ARGV[a + 3]) == 1 then
                redis.call('PEXPIRE', KEYS[k + 2], ttl)
                codes[i] = 3
              else
                codes[i] = 4
              end
            else
              redis.call('RPUSH', KEYS[k + 1], string.sub(ARGV[a + 1], 5))
              redis.call('PEXPIRE', KEYS[k + 1], ttl)
              redis.call('ZADD', KEYS[1], 'NX', deadline, ARGV[a + 2])
              codes[i] = 2
            end
          end
        end
        return codes
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
