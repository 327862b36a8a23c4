using Pathfinder.Signaling.Protocol;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// Routing on a Redis Cluster, where a script may touch one hash slot only: who holds each destination is read per
/// slot (one MGET per slot, pipelined), each owner replica gets one SPUBLISH of its bundle, and messages for absent ids
/// are queued per slot after their offline budgets (in other slots) were reserved. Answers the same codes as the route
/// script of one primary, so <see cref="RouteBatchAsync"/> treats both alike.
/// </summary>
public sealed partial class RedisPeerDirectory
{
    /// <summary>Slots this replica queued into (slot → a stamp of the last time): swept first, dropped once empty.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, long> _dueSlots = new();
    private long _dueStamp;

    private async Task<RedisResult> RouteSlotsAsync(List<RouteRequest> batch, bool[] here, int first, int end, long deadline)
    {
        var remote = new List<RouteRequest>(end - first);
        for (var i = first; i < end; i++)
        {
            if (!here[i])
            {
                remote.Add(batch[i]);
            }
        }

        var codes = new int[remote.Count];
        var db = Db;

        // 1. Who holds each destination: one MGET per slot, all sent before the first answer is read.
        var lookups = BySlot(remote, Enumerable.Range(0, remote.Count))
            .Select(g => (g.Value, db.StringGetAsync([.. g.Value.Select(k => _keys.Peer(remote[k].Message.Dst))])))
            .ToList();
        var owners = new string?[remote.Count];
        foreach (var (members, lookup) in lookups)
        {
            var values = await lookup;
            for (var j = 0; j < members.Count; j++)
            {
                owners[members[j]] = OwnerOf(values[j]);
            }
        }

        // 2. One SPUBLISH per owner replica, its messages bundled in order; a bundle nobody hears counts as absent.
        var absent = new List<int>();
        var bundles = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var k = 0; k < remote.Count; k++)
        {
            if (owners[k] is not { } owner || (owner == ReplicaId && remote[k].Hop != 0))
            {
                absent.Add(k);
            }
            else if (owner == ReplicaId)
            {
                codes[k] = 5;
            }
            else
            {
                (bundles.TryGetValue(owner, out var list) ? list : bundles[owner] = []).Add(k);
            }
        }

        foreach (var k in await PublishBundlesAsync(remote, bundles, codes))
        {
            absent.Add(k);
        }

        // 3. Absent: queue what may be queued, within every budget.
        if (absent.Count > 0)
        {
            absent.Sort();
            await QueueAbsentAsync(remote, absent, codes, deadline);
        }

        return RedisResult.Create([.. codes.Select(c => RedisResult.Create(c))]);
    }

    private static string? OwnerOf(RedisValue value)
    {
        if (value.IsNull)
        {
            return null;
        }

        var text = (string)value!;
        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        // A reserved id ("\n{token}\n", IdReservation) has no owner: it queues like an absent one.
        return newline < 0 ? text : newline == 0 ? null : text[..newline];
    }

    private static Dictionary<int, List<int>> BySlot(List<RouteRequest> remote, IEnumerable<int> members)
    {
        var groups = new Dictionary<int, List<int>>();
        foreach (var k in members)
        {
            var slot = RedisKeys.SlotOf(remote[k].Message.Dst);
            (groups.TryGetValue(slot, out var list) ? list : groups[slot] = []).Add(k);
        }

        return groups;
    }

    /// <summary>Publishes each owner's bundle (sets code 1) and returns the messages of bundles that reached nobody.</summary>
    private async Task<List<int>> PublishBundlesAsync(List<RouteRequest> remote, Dictionary<string, List<int>> bundles, int[] codes)
    {
        var subscriber = _redis.GetSubscriber();
        var sends = bundles.Select(b => (b.Value, subscriber.PublishAsync(_keys.Replica(b.Key, sharded: true), Bundle(remote, b.Value)))).ToList();
        var unheard = new List<int>();
        foreach (var (members, send) in sends)
        {
            if (await send > 0)
            {
                foreach (var k in members)
                {
                    codes[k] = 1;
                }
            }
            else
            {
                unheard.AddRange(members);
            }
        }

        return unheard;
    }

    private static byte[] Bundle(List<RouteRequest> remote, List<int> members)
    {
        var bundle = new byte[1 + members.Sum(k => remote[k].Framed.Length)];
        var at = 1;
        foreach (var k in members)
        {
            remote[k].Framed.CopyTo(bundle, at);
            at += remote[k].Framed.Length;
        }

        return bundle;
    }

    private async Task QueueAbsentAsync(List<RouteRequest> remote, List<int> absent, int[] codes, long deadline)
    {
        var db = Db;
        var queueable = absent.Where(k => remote[k].Message.Type.IsQueueable()).ToList();
        var fits = new bool[remote.Count];

        // A message its destination's queue cannot take reserves nothing (as on one primary, where the queue's limit
        // is checked first): the queues' lengths, then this call's own earlier messages, say which.
        var lengths = queueable.Select(k => remote[k].Message.Dst).Distinct(StringComparer.Ordinal)
            .Select(dst => (dst, db.ListLengthAsync(_keys.Queue(dst)))).ToList();
        var held = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (dst, length) in lengths)
        {
            held[dst] = await length;
        }

        var candidates = queueable.Where(k => held[remote[k].Message.Dst]++ < _settings.OfflineQueuePerPeer).ToList();

        // The sender's share first (its slot), then the total's, each one single-key script; every refused message
        // still goes to its slot, where the told set decides between telling the sender now (3) and once more (4).
        var bySender = candidates.GroupBy(k => remote[k].Message.Src, StringComparer.Ordinal)
            .Select(g => (Members: g.ToList(), Call: Reserve(db, _keys.Sender(g.Key), _settings.OfflineQueuePerSender, _settings.OfflineQueuePerSenderBytes, g, remote)))
            .ToList();
        foreach (var (members, call) in bySender)
        {
            var granted = (RedisResult[])(await call)!;
            for (var j = 0; j < members.Count; j++)
            {
                fits[members[j]] = (int)granted[j] == 1;
            }
        }

        var senderFits = candidates.Where(k => fits[k]).ToList();
        if (senderFits.Count > 0)
        {
            var granted = (RedisResult[])(await Reserve(db, _keys.OfflineTotals, _settings.OfflineQueueTotalMessages, _settings.OfflineQueueTotalBytes, senderFits, remote))!;
            var refused = new List<int>();
            for (var j = 0; j < senderFits.Count; j++)
            {
                if ((int)granted[j] != 1)
                {
                    fits[senderFits[j]] = false;
                    refused.Add(senderFits[j]);
                }
            }

            await GiveBackAsync(remote, refused, totals: false);
        }

        var answers = BySlot(remote, queueable).Select(g => (g.Key, g.Value, Enqueue(db, g.Key, g.Value, remote, fits, deadline))).ToList();
        var live = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var notQueued = new List<int>();
        foreach (var (slot, members, call) in answers)
        {
            var results = (RedisResult[])(await call)!;
            for (var j = 0; j < members.Count; j++)
            {
                var k = members[j];
                if (results[j].Resp2Type == ResultType.BulkString)
                {
                    // Claimed since the lookup: to its owner after all (to us: handed over in order, or refused).
                    var owner = (string)results[j]!;
                    if (owner != ReplicaId)
                    {
                        (live.TryGetValue(owner, out var list) ? list : live[owner] = []).Add(k);
                    }
                    else
                    {
                        codes[k] = remote[k].Hop == 0 ? 5 : 3;
                    }
                }
                else
                {
                    codes[k] = (int)results[j];
                }

                if (codes[k] == 2)
                {
                    _dueSlots[slot] = Interlocked.Increment(ref _dueStamp);
                }
                else if (fits[k])
                {
                    notQueued.Add(k);
                }
            }
        }

        foreach (var k in await PublishBundlesAsync(remote, live, codes))
        {
            codes[k] = 3;
        }

        await GiveBackAsync(remote, notQueued, totals: true);
    }

    private static Task<RedisResult> Reserve(IDatabase db, RedisKey budget, long maxMessages, long maxBytes, IEnumerable<int> members, List<RouteRequest> remote) =>
        db.ScriptEvaluateAsync(OfflineScripts.Reserve, [budget], [maxMessages, maxBytes, .. members.Select(k => (RedisValue)(remote[k].Framed.Length - 4))]);

    private Task<RedisResult> Enqueue(IDatabase db, int slot, List<int> members, List<RouteRequest> remote, bool[] fits, long deadline)
    {
        var keys = new RedisKey[1 + (3 * members.Count)];
        var values = new RedisValue[3 + (4 * members.Count)];
        keys[0] = _keys.Due(slot);
        values[0] = _settings.OfflineQueuePerPeer;
        values[1] = (_settings.ExpireTimeout * 2L) + 60_000;
        values[2] = deadline;
        for (var j = 0; j < members.Count; j++)
        {
            var request = remote[members[j]];
            keys[1 + (3 * j)] = _keys.Peer(request.Message.Dst);
            keys[2 + (3 * j)] = _keys.Queue(request.Message.Dst);
            keys[3 + (3 * j)] = _keys.Told(request.Message.Dst);
            values[3 + (4 * j)] = request.Framed.AsMemory(4);
            values[4 + (4 * j)] = request.Message.Dst;
            values[5 + (4 * j)] = request.Message.Src;
            values[6 + (4 * j)] = fits[members[j]] ? "1" : "0";
        }

        return db.ScriptEvaluateAsync(SlotRouteScripts.Enqueue, keys, values);
    }

    /// <summary>Gives back the reserved shares of messages that were not queued after all.</summary>
    private Task GiveBackAsync(List<RouteRequest> remote, List<int> members, bool totals) => GiveBackSharesAsync(
        members.GroupBy(k => remote[k].Message.Src, StringComparer.Ordinal)
            .Select(g => (g.Key, (long)g.Count(), (long)g.Sum(k => remote[k].Framed.Length - 4))),
        totals);

    /// <summary>Gives shares (sender, messages, bytes) back to each sender's budget and, with <paramref name="totals"/>, to the total.</summary>
    private async Task GiveBackSharesAsync(IEnumerable<(string Src, long Messages, long Bytes)> shares, bool totals)
    {
        var db = Db;
        var calls = new List<Task<RedisResult>>();
        long messages = 0, bytes = 0;
        foreach (var (src, n, b) in shares)
        {
            if (n > 0)
            {
                calls.Add(db.ScriptEvaluateAsync(OfflineScripts.GiveBack, [_keys.Sender(src)], [n, b]));
                messages += n;
                bytes += b;
            }
        }

        if (totals && messages > 0)
        {
            calls.Add(db.ScriptEvaluateAsync(OfflineScripts.GiveBack, [_keys.OfflineTotals], [messages, bytes]));
        }

        await Task.WhenAll(calls);
    }
}
