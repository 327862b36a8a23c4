namespace Pathfinder.Signaling.Cluster;

/// <summary>The Redis script of routing on a Redis Cluster (used by RedisPeerDirectory.SlotRouting.cs): it queues the messages of one slot.</summary>
public sealed partial class RedisPeerDirectory
{
    private static class SlotRouteScripts
    {
        /// <summary>
        /// Queue messages for absent ids of one slot, in order. KEYS: the slot's expiry index, then per message: peer,
        /// queue, told. ARGV: perPeerLimit, toldTtlMs, deadlineMs, then per message: envelope, dst, src, fits ('1' when
        /// the sender's and the total budget were reserved for it). Returns one answer per message: 2 queued, 3 refused
        /// (tell the sender EXPIRE now), 4 refused (sender already told), or the owner's replica id when the id was
        /// claimed since the replica looked (the replica publishes it there instead); a reserved id (<c>\n{token}\n</c>,
        /// IdReservation) has no owner and queues like an absent one. Over a budget, a destination that
        /// has a queue tells each sender once (the told set); one without a queue keeps nothing and answers 3 every
        /// time — as the route script of one primary does.
        /// </summary>
        public const string Enqueue = OfflineScripts.Refusal + """
            local limit, ttl, deadline = tonumber(ARGV[1]), ARGV[2], ARGV[3]
            local n = (#KEYS - 1) / 3
            local out = {}
            for i = 1, n do
              local a, k = 3 + (i - 1) * 4, 2 + (i - 1) * 3
              local cur = redis.call('GET', KEYS[k])
              if cur and string.byte(cur, 1) ~= 10 then
                out[i] = string.sub(cur, 1, string.find(cur, '\n', 1, true) - 1)
              else
                local len = redis.call('LLEN', KEYS[k + 1])
                if len >= limit or ARGV[a + 4] ~= '1' then
                  out[i] = refusal(len, KEYS[k + 2], ARGV[a + 3], ttl)
                else
                  redis.call('RPUSH', KEYS[k + 1], ARGV[a + 1])
                  redis.call('ZADD', KEYS[1], 'NX', deadline, ARGV[a + 2])
                  out[i] = 2
                end
              end
            end
            return out
            """;
    }
}
