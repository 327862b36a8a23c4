using Pathfinder.Signaling.Routing;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// Offline queues and their expiry: every due queue is taken (and its budget given back) by exactly one replica per
/// sweep. One primary keeps one expiry index; a Redis Cluster one per hash slot (no key every replica touches): a
/// replica sweeps the slots it queued into and, turn by turn, every other slot (so the queues of a replica that died
/// still expire).
/// </summary>
public sealed partial class RedisPeerDirectory
{
    /// <summary>Expired queues per sweep script call.</summary>
    private const int ExpireBatch = 512;

    /// <summary>Sweep script calls per tick at most: 64 × 512 = 32,768 queues, far beyond what one tick sees.</summary>
    private const int MaxSweepCalls = 64;

    /// <summary>Slots a cluster sweep visits per tick besides those this replica queued into: all 16384 in 128 ticks.</summary>
    private const int SweepSlotsPerTick = 128;

    private int _sweepCursor;

    /// <summary>
    /// Takes every due offline queue, in calls of <see cref="ExpireBatch"/> queues until none is left (at most
    /// <see cref="MaxSweepCalls"/> calls per tick), so a sweep keeps up with any number of queued ids. The script
    /// returns only the senders to tell, never the entries, so a call's answer stays small.
    /// </summary>
    public async ValueTask<IReadOnlyList<ExpiredPair>> TakeExpiredAsync(CancellationToken cancellationToken)
    {
        var pairs = new List<ExpiredPair>();
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        try
        {
            if (!IsCluster)
            {
                for (var call = 0; call < MaxSweepCalls && !cancellationToken.IsCancellationRequested; call++)
                {
                    var looked = await TakeExpiredAsync([_keys.Queues, _keys.OfflineTotals], now, inline: true, pairs);
                    if (looked < ExpireBatch)
                    {
                        break;
                    }
                }

                return pairs;
            }

            var start = Interlocked.Add(ref _sweepCursor, SweepSlotsPerTick) - SweepSlotsPerTick;
            var slots = _dueSlots.Keys
                .Concat(Enumerable.Range(start, SweepSlotsPerTick).Select(s => (int)((uint)s % RedisKeys.SlotCount)))
                .Distinct()
                .Select(slot => (Slot: slot, Stamp: _dueSlots.TryGetValue(slot, out var stamp) ? stamp : 0));
            var calls = slots.Select(s => (s.Slot, s.Stamp, Call: TakeSlotAsync(s.Slot, now, pairs))).ToList();
            foreach (var (slot, stamp, call) in calls)
            {
                // An empty index is dropped from the slots to visit, unless something was queued there meanwhile.
                if (await call == 0 && stamp != 0)
                {
                    _dueSlots.TryRemove(new KeyValuePair<int, long>(slot, stamp));
                }
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or InvalidCastException)
        {
            ClusterLog.RouteFailed(_logger, "(expiry sweep)", ex.Message);
        }

        return pairs;
    }

    // One slot's due queues; returns how many ids its index still holds.
    private async Task<long> TakeSlotAsync(int slot, long now, List<ExpiredPair> pairs)
    {
        var left = 0L;
        for (var call = 0; call < MaxSweepCalls; call++)
        {
            var (looked, remaining) = await TakeExpiredCallAsync([_keys.Due(slot)], now, inline: false, pairs);
            left = remaining;
            if (looked < ExpireBatch)
            {
                break;
            }
        }

        return left;
    }

    private async Task<int> TakeExpiredAsync(RedisKey[] keys, long now, bool inline, List<ExpiredPair> pairs) =>
        (await TakeExpiredCallAsync(keys, now, inline, pairs)).Looked;

    private async Task<(int Looked, long Left)> TakeExpiredCallAsync(RedisKey[] keys, long now, bool inline, List<ExpiredPair> pairs)
    {
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(
            OfflineScripts.TakeExpired,
            keys,
            [now, ExpireBatch, _keys.QueuePrefix, _keys.ToldPrefix, _keys.SenderPrefix, inline ? "1" : "0", _keys.PeerPrefix]))!;
        var queues = (RedisResult[])result[0]!;
        var shares = new List<(string, long, long)>();
        lock (pairs)
        {
            foreach (RedisResult queue in queues)
            {
                var parts = (RedisResult[])queue!;
                var id = (string)parts[0]!;
                foreach (RedisResult sender in (RedisResult[])parts[1]!)
                {
                    pairs.Add(new ExpiredPair(id, (string)sender!));
                }

                var flat = (RedisResult[])parts[2]!;
                for (var i = 0; i + 2 < flat.Length; i += 3)
                {
                    shares.Add(((string)flat[i]!, (long)flat[i + 1], (long)flat[i + 2]));
                }
            }
        }

        if (shares.Count > 0)
        {
            await GiveBackSharesAsync(shares, totals: true);
        }

        // Due ids looked at (expired or postponed): a full batch means more may be due.
        return ((int)result[2], (long)result[1]);
    }

    /// <summary>Gives back the budget shares of offline queue entries handed over to a claimer on a cluster (counted entries only).</summary>
    private async Task GiveBackEntriesAsync(List<byte[]> entries)
    {
        var shares = entries
            .Select(e => IsEnvelopeEntry(e, out var envelope) ? (envelope.Src, (long)e.Length) : (Src: (string?)null, 0L))
            .Where(s => s.Src is not null)
            .GroupBy(s => s.Src!, StringComparer.Ordinal)
            .Select(g => (g.Key, (long)g.Count(), g.Sum(s => s.Item2)));
        try
        {
            await GiveBackSharesAsync(shares, totals: true);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            ClusterLog.RouteFailed(_logger, "(offline budget give-back)", ex.Message);
        }
    }
}
