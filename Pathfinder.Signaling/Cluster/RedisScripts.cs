namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// The Lua scripts that make each cluster operation atomic and one round trip. Key and channel names are passed in
/// from <see cref="RedisKeys"/>. A presence value is <c>{replica}\n{token}\n{connectionId}</c>.
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// Lua helpers of the scripts that take offline queues: <c>src_of(entry)</c> reads the sender out of an entry (a
    /// cluster envelope: version byte, 19 fixed bytes, uint16-LE-prefixed dst then src) and whether it was counted
    /// (entries of earlier versions, <c>{src}\n{frame}</c>, were not: their senders are told, nothing is given back), and <c>give_back(totals, senderPrefix, entries)</c> returns every entry's
    /// share of the cluster-wide budget and of its sender's budget (a hash that reaches zero is deleted) and returns
    /// the senders in the order of their first entry.
    /// </summary>
    private const string Budget = """
        local function src_of(e)
          local v = string.byte(e, 1)
          if v and v >= 1 and v < 32 and #e >= 24 then
            local dl = string.byte(e, 21) + string.byte(e, 22) * 256
            local lo, hi = string.byte(e, 23 + dl, 24 + dl)
            if not hi then return nil, false end
            return string.sub(e, 25 + dl, 24 + dl + lo + hi * 256), true
          end
          local nl = string.find(e, '\n', 1, true)
          if nl then return string.sub(e, 1, nl - 1), false end
          return nil, false
        end
        local function give_back(totals, sprefix, entries)
          local per, order, n, b = {}, {}, 0, 0
          for _, e in ipairs(entries) do
            local src, counted = src_of(e)
            if src then
              local p = per[src]
              if not p then
                p = {0, 0}
                per[src] = p
                order[#order + 1] = src
              end
              if counted then
                p[1] = p[1] + 1
                p[2] = p[2] + #e
                n = n + 1
                b = b + #e
              end
            end
          end
          for _, src in ipairs(order) do
            local k = sprefix .. src .. '}'
            if per[src][1] == 0 then
            elseif redis.call('HINCRBY', k, 'messages', -per[src][1]) <= 0 then
              redis.call('DEL', k)
            else
              redis.call('HINCRBY', k, 'bytes', -per[src][2])
            end
          end
          if n > 0 then
            if redis.call('HINCRBY', totals, 'messages', -n) <= 0 then
              redis.call('DEL', totals)
            else
              redis.call('HINCRBY', totals, 'bytes', -b)
            end
          end
          return order
        end

        """;

    /// <summary>
    /// Claim an id. KEYS: peer, queue, queues, told, offline totals. ARGV: value, token, leaseMs, id, senderPrefix,
    /// signed ('1': the token was verified as signed for this id, so it takes the id from any holder or reservation).
    /// Returns {0} when another token holds or reserves the id; otherwise {1, previousValue or '', queuedEntries}: the
    /// lease is set to us and the offline queue is taken in the same step (its budget shares given back), so nothing
    /// can be enqueued behind our back. previousValue is the live holder taken over (its replica closes it); a
    /// reservation (a value with no replica, <c>\n{token}\n</c>, see <see cref="Release"/>) has no holder to close.
    /// </summary>
    public const string Claim = Budget + """
        local cur = redis.call('GET', KEYS[1])
        local prev = ''
        if cur then
          local a = string.find(cur, '\n', 1, true)
          local b = string.find(cur, '\n', a + 1, true)
          if ARGV[6] ~= '1' and string.sub(cur, a + 1, b - 1) ~= ARGV[2] then return {0} end
          if a > 1 then prev = cur end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
        local q = redis.call('LRANGE', KEYS[2], 0, -1)
        if #q > 0 then
          redis.call('DEL', KEYS[2])
          give_back(KEYS[5], ARGV[5], q)
        end
        redis.call('DEL', KEYS[4])
        redis.call('ZREM', KEYS[3], ARGV[4])
        return {1, prev, q}
        """;

    /// <summary>
    /// Compare-and-delete, or compare-and-reserve. KEYS: peer. ARGV: value, reservationMs, reserved value
    /// (<c>\n{token}\n</c>: no replica owns it). A newer registration (other value) is left alone. With a reservation
    /// (> 0) the key is kept as the reserved value for that long instead of deleted: <see cref="Claim"/> gives it to
    /// the same token (or a signed one) only; the route script finds no live owner and queues as for an absent peer.
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
    /// Route a batch of messages (in the order they were sent) to peers that are not on this replica.
    /// KEYS: queues, offline totals, then per message: peer, queue, told.
    /// ARGV: channelPrefix, perPeerLimit, toldTtlMs, deadlineMs, thisReplica, totalMessages, totalBytes,
    /// perSenderMessages, perSenderBytes, senderPrefix, then per message: framed envelope (int32 length + envelope),
    /// dstId, src, flags (bit 0: queueable; bit 1: re-routed, never publish to thisReplica).
    /// Every message for a live owner joins that owner's bundle (<c>\0</c> + the framed envelopes, in order), and each
    /// bundle is one PUBLISH. Returns one code per message: 1 delivered to the owner's replica, 2 queued, 0 dropped
    /// (not queueable), 3 refused (tell the sender EXPIRE now), 4 refused (sender already told), 5 the owner is this
    /// replica (nothing published: the caller hands it over in order; a re-routed message is queued instead). A bundle
    /// that reaches no subscriber (the owner's replica died; its lease has not run out) counts as absent: its messages
    /// are queued. All of a destination's messages in one call share its fate, so their order holds.
    /// A message is queued only within every budget: the destination's queue (perPeerLimit), all queues together
    /// (totalMessages, totalBytes: the <c>offline</c> hash) and its sender's share (perSenderMessages,
    /// perSenderBytes: the sender's hash); an entry counts its stored bytes. Over a budget, a destination that has a
    /// queue tells each sender once (the told set); one without a queue keeps nothing and answers 3 every time.
    /// </summary>
    public const string RouteMany = """
        local prefix, limit, ttl, deadline, self = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
        local max_n, max_b, per_n, per_b, sprefix = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
        local n = (#KEYS - 2) / 3
        local owner_of, bundles, order, codes = {}, {}, {}, {}
        for i = 1, n do
          local a = 10 + (i - 1) * 4
          local cur = redis.call('GET', KEYS[(i - 1) * 3 + 3])
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
        local t = redis.call('HMGET', KEYS[2], 'messages', 'bytes')
        local tot_n, tot_b, add_n, add_b = tonumber(t[1]) or 0, tonumber(t[2]) or 0, 0, 0
        local senders, sorder = {}, {}
        for i = 1, n do
          local owner = owner_of[i]
          if codes[i] == 5 then
          elseif owner and not dead[owner] then
            codes[i] = 1
          else
            local a = 10 + (i - 1) * 4
            local k = (i - 1) * 3 + 3
            if tonumber(ARGV[a + 4]) % 2 == 0 then
              codes[i] = 0
            else
              local src = ARGV[a + 3]
              local u = senders[src]
              if not u then
                local h = redis.call('HMGET', sprefix .. src .. '}', 'messages', 'bytes')
                u = {tonumber(h[1]) or 0, tonumber(h[2]) or 0, 0, 0}
                senders[src] = u
                sorder[#sorder + 1] = src
              end
              local size = #ARGV[a + 1] - 4
              local len = redis.call('LLEN', KEYS[k + 1])
              if len >= limit or tot_n >= max_n or tot_b + size > max_b or u[1] >= per_n or u[2] + size > per_b then
                if len == 0 then
                  codes[i] = 3
                elseif redis.call('SADD', KEYS[k + 2], src) == 1 then
                  redis.call('PEXPIRE', KEYS[k + 2], ttl)
                  codes[i] = 3
                else
                  codes[i] = 4
                end
              else
                redis.call('RPUSH', KEYS[k + 1], string.sub(ARGV[a + 1], 5))
                redis.call('ZADD', KEYS[1], 'NX', deadline, ARGV[a + 2])
                tot_n, tot_b, add_n, add_b = tot_n + 1, tot_b + size, add_n + 1, add_b + size
                u[1], u[2], u[3], u[4] = u[1] + 1, u[2] + size, u[3] + 1, u[4] + size
                codes[i] = 2
              end
            end
          end
        end
        if add_n > 0 then
          redis.call('HINCRBY', KEYS[2], 'messages', add_n)
          redis.call('HINCRBY', KEYS[2], 'bytes', add_b)
        end
        for _, src in ipairs(sorder) do
          local u = senders[src]
          if u[3] > 0 then
            redis.call('HINCRBY', sprefix .. src .. '}', 'messages', u[3])
            redis.call('HINCRBY', sprefix .. src .. '}', 'bytes', u[4])
          end
        end
        return codes
        """;

    /// <summary>
    /// Take at most maxQueues offline queues whose deadline has passed. KEYS: queues, offline totals. ARGV: nowMs,
    /// maxQueues, queuePrefix, toldPrefix, senderPrefix. Returns {{id, senders}, …}: the senders of each queue to tell
    /// (EXPIRE), in the order of their first message, without those already told. Every entry's budget shares are given
    /// back in the same step. Atomic, so each expired queue goes to exactly one replica.
    /// </summary>
    public const string TakeExpired = Budget + """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
        local out = {}
        for _, id in ipairs(due) do
          redis.call('ZREM', KEYS[1], id)
          local qk = ARGV[3] .. id
          local q = redis.call('LRANGE', qk, 0, -1)
          redis.call('DEL', qk)
          local senders = give_back(KEYS[2], ARGV[5], q)
          local tk = ARGV[4] .. id
          local tell = {}
          for _, src in ipairs(senders) do
            if redis.call('SISMEMBER', tk, src) == 0 then tell[#tell + 1] = src end
          end
          redis.call('DEL', tk)
          out[#out + 1] = {id, tell}
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
