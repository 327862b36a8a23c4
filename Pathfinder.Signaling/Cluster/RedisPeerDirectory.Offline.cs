using Pathfinder.Signaling.Routing;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>Offline queues and their expiry: every due queue is taken (and its budget given back) by exactly one replica per sweep.</summary>
public sealed partial class RedisPeerDirectory
{
    /// <summary>Expired queues per sweep script call.</summary>
    private const int ExpireBatch = 512;

    /// <summary>Sweep script calls per tick at most: 64 × 512 = 32,768 queues, far beyond what one tick sees.</summary>
    private const int MaxSweepCalls = 64;

    /// <summary>
    /// Takes every due offline queue, in calls of <see cref="ExpireBatch"/> queues until none is left (at most
    /// <see cref="MaxSweepCalls"/> calls per tick), so a sweep keeps up with any number of queued ids. The script
    /// returns only the senders to tell, never the entries, so a call's answer stays small.
    /// </summary>
    public async ValueTask<IReadOnlyList<ExpiredPair>> TakeExpiredAsync(CancellationToken cancellationToken)
    {
        var pairs = new List<ExpiredPair>();
        for (var call = 0; call < MaxSweepCalls && !cancellationToken.IsCancellationRequested; call++)
        {
            RedisResult[] queues;
            try
            {
                queues = (RedisResult[])(await Db.ScriptEvaluateAsync(
                    RedisScripts.TakeExpired,
                    [_keys.Queues, _keys.OfflineTotals],
                    [_time.GetUtcNow().ToUnixTimeMilliseconds(), ExpireBatch, _keys.QueuePrefix, _keys.ToldPrefix, _keys.SenderPrefix]))!;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                ClusterLog.RouteFailed(_logger, "(expiry sweep)", ex.Message);
                break;
            }

            foreach (RedisResult queue in queues)
            {
                var parts = (RedisResult[])queue!;
                var id = (string)parts[0]!;
                foreach (RedisResult sender in (RedisResult[])parts[1]!)
                {
                    pairs.Add(new ExpiredPair(id, (string)sender!));
                }
            }

            if (queues.Length < ExpireBatch)
            {
                break;
            }
        }

        return pairs;
    }
}
