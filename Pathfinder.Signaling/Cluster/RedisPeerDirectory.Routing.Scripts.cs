namespace Pathfinder.Signaling.Cluster;

/// <summary>The Redis script of routing on one primary (used by RedisPeerDirectory.Routing.cs): a whole batch, budgets and publish included, in one script.</summary>
public sealed partial class RedisPeerDirectory
{
    private static class RouteScripts
    {
        /// <summary>
        /// Route a batch of messages (in the order they were sent) to peers that are not on this replica.
        /// KEYS: the expiry index, offline totals, then per message: peer, queue, told.
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
        public const string RouteMany = OfflineScripts.Refusal + """
            local prefix, limit, ttl, deadline, self = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
            local max_n, max_b, per_n, per_b, sprefix = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
            local n = (#KEYS - 2) / 3
            local owner_of, bundles, order, codes = {}, {}, {}, {}
            for i = 1, n do
              local a = 10 + (i - 1) * 4
              local cur = redis.call('GET', KEYS[(i - 1) * 3 + 3])
              if cur and string.byte(cur, 1) ~= 10 then
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
                    codes[i] = refusal(len, KEYS[k + 2], src, ttl)
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
    }
}
