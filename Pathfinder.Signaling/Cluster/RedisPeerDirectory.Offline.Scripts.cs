namespace Pathfinder.Signaling.Cluster;

/// <summary>The Redis scripts of the offline queues, their budgets and their expiry (used by RedisPeerDirectory.Offline.cs and the claim).</summary>
public sealed partial class RedisPeerDirectory
{
    private static class OfflineScripts
    {
        /// <summary>
        /// Lua helpers of the scripts that take offline queues: <c>src_of(entry)</c> reads the sender out of an entry (a
        /// cluster envelope: version byte, 19 fixed bytes, uint16-LE-prefixed dst then src) and whether it was counted
        /// (entries of earlier versions, <c>{src}\n{frame}</c>, were not: their senders are told, nothing is given
        /// back); <c>shares_of(entries)</c> sums each sender's counted share (and the senders in the order of their
        /// first entry); <c>give_back(totals, senderPrefix, entries)</c> returns every entry's share of the
        /// cluster-wide budget and of its sender's budget (a hash that reaches zero is deleted) and returns the senders;
        /// <c>flat(per, order)</c> lists the shares as {src, messages, bytes, …} for a replica to give back itself (on
        /// a cluster, where the budgets live in other slots).
        /// </summary>
        public const string Budget = """
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
            local function shares_of(entries)
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
              return per, order, n, b
            end
            local function give_back(totals, sprefix, entries)
              local per, order, n, b = shares_of(entries)
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
            local function flat(per, order)
              local out = {}
              for _, src in ipairs(order) do
                out[#out + 1] = src
                out[#out + 1] = per[src][1]
                out[#out + 1] = per[src][2]
              end
              return out
            end

            """;

        /// <summary>
        /// Lua helper of both route scripts: <c>refusal(len, told, src, ttl)</c> answers a message an offline queue
        /// refuses (over a limit or a budget): 3 (tell the sender EXPIRE now) when the queue is empty (nothing is kept),
        /// else 3 the first time this sender is refused for it (remembered in the told set for ttl ms) and 4 after.
        /// </summary>
        public const string Refusal = """
            local function refusal(len, told, src, ttl)
              if len == 0 then return 3 end
              if redis.call('SADD', told, src) == 1 then
                redis.call('PEXPIRE', told, ttl)
                return 3
              end
              return 4
            end

            """;

        /// <summary>
        /// Take at most maxQueues offline queues whose deadline has passed. KEYS: the expiry index, then (inline only)
        /// the offline totals. ARGV: nowMs, maxQueues, queuePrefix, toldPrefix, senderPrefix, inline ('1': give the
        /// budget shares back here; '0': return them), peerPrefix. Returns {{{id, senders, shares}, …},
        /// left, looked}: the senders of each queue to tell (EXPIRE), in the order of their first message, without those
        /// already told; shares (when not inline) as {src, messages, bytes, …}; left, the ids still in the index; looked,
        /// the due ids it looked at. Atomic, so each expired queue goes to exactly one replica.
        /// A due queue whose id a connection holds is being handed over by a claim (Claims.Delivered removes it once
        /// delivered): it is looked at again by the next sweep (its deadline becomes nowMs + 1) instead of expired, so a
        /// delivered message never also gets EXPIRE. Should the holder never remove it (Redis did not answer, the claim was given up), it expires once
        /// nobody holds the id.
        /// </summary>
        public const string TakeExpired = Budget + """
            local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
            local out = {}
            for _, id in ipairs(due) do
              local lease = redis.call('GET', ARGV[7] .. id .. '}')
              if lease and string.byte(lease, 1) ~= 10 then
                redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + 1, id)
              else
                redis.call('ZREM', KEYS[1], id)
                local qk = ARGV[3] .. id .. '}'
                local q = redis.call('LRANGE', qk, 0, -1)
                redis.call('DEL', qk)
                local senders, shares
                if ARGV[6] == '1' then
                  senders, shares = give_back(KEYS[2], ARGV[5], q), {}
                else
                  local per
                  per, senders = shares_of(q)
                  shares = flat(per, senders)
                end
                local tk = ARGV[4] .. id .. '}'
                local tell = {}
                for _, src in ipairs(senders) do
                  if redis.call('SISMEMBER', tk, src) == 0 then tell[#tell + 1] = src end
                end
                redis.call('DEL', tk)
                out[#out + 1] = {id, tell, shares}
              end
            end
            return {out, redis.call('ZCARD', KEYS[1]), #due}
            """;

        /// <summary>
        /// Reserve budget shares (a cluster's, before queuing). KEYS: one budget hash (a sender's or the totals).
        /// ARGV: maxMessages, maxBytes, then the size of each message in order. Returns 1 per message that fits (its
        /// share is counted) and 0 per message that does not; a message that does not fit never stops a smaller one
        /// after it, as in the route script.
        /// </summary>
        public const string Reserve = """
            local h = redis.call('HMGET', KEYS[1], 'messages', 'bytes')
            local n, b, max_n, max_b = tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(ARGV[1]), tonumber(ARGV[2])
            local add_n, add_b, out = 0, 0, {}
            for i = 3, #ARGV do
              local size = tonumber(ARGV[i])
              if n + add_n >= max_n or b + add_b + size > max_b then
                out[#out + 1] = 0
              else
                add_n, add_b = add_n + 1, add_b + size
                out[#out + 1] = 1
              end
            end
            if add_n > 0 then
              redis.call('HINCRBY', KEYS[1], 'messages', add_n)
              redis.call('HINCRBY', KEYS[1], 'bytes', add_b)
            end
            return out
            """;

        /// <summary>Give budget shares back. KEYS: one budget hash. ARGV: messages, bytes. A hash that reaches zero is deleted.</summary>
        public const string GiveBack = """
            if redis.call('HINCRBY', KEYS[1], 'messages', -tonumber(ARGV[1])) <= 0 then
              redis.call('DEL', KEYS[1])
            else
              redis.call('HINCRBY', KEYS[1], 'bytes', -tonumber(ARGV[2]))
            end
            return 1
            """;
    }
}
