using System.Diagnostics;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// Routing and publish batching: messages for other replicas (or offline ids) go through the route outbox, one route
/// script call at a time, one bundled PUBLISH per replica per call (on one primary; a Redis Cluster routes per slot, see
/// RedisPeerDirectory.SlotRouting.cs).
/// </summary>
public sealed partial class RedisPeerDirectory
{
    /// <summary>Messages per route script call (a batch larger than this is split into pipelined calls).</summary>
    private const int MaxRoutesPerCall = 128;

    /// <summary>Envelope bytes per route script call (and so per bundle), give or take one message.</summary>
    private const int MaxBytesPerCall = 1024 * 1024;

    /// <summary>Messages that may wait for Redis before new ones are refused (the sender is told EXPIRE).</summary>
    private const int OutboxCapacity = 20_000;

    /// <summary>
    /// Bytes of envelopes that may wait for Redis (or be in the call that is out) before new ones are refused: 64 of the
    /// largest messages, thousands of ordinary ones. Kept small on purpose: what waits on Redis lives through
    /// collections and is promoted, so the in-flight volume sets the replica's memory peak under a flood (bench/run.sh
    /// --abuse, offline100 on two replicas: +98 to +189 MB at 16 MiB, +41 to +45 MB at 4 MiB).
    /// </summary>
    private const long OutboxByteCapacity = 4L * 1024 * 1024;

    // Nothing is delivered before this returns (every message takes its turn in the outbox): the batch is not used.
    public ValueTask<RouteOutcome> RouteAsync(Outbound message, SendBatch? batch = null) => RouteAsync(message, hop: 0);

    // Every message takes its turn in the outbox, even one for a peer that is (or is becoming) local: where it goes is
    // decided at its turn, so it can never overtake an earlier message of the same sender.
    private ValueTask<RouteOutcome> RouteAsync(Outbound message, byte hop)
    {
        var envelope = new ClusterEnvelope(
            EnvelopeKind.Deliver, hop, message.Type, NowMicroseconds(), 0, message.Dst, message.Src,
            Activity.Current?.Id ?? string.Empty, message.Frame);
        if (!envelope.TryWriteFramed(out var framed))
        {
            // A field no envelope can carry (the edge refuses such ids first): refused, the sender hears EXPIRE.
            _metrics.BackplaneError();
            ClusterLog.EnvelopeRefused(_logger, message.Dst.Length, message.Src.Length);
            return ValueTask.FromResult(RouteOutcome.Unavailable);
        }

        var request = RouteRequest.Rent(message, framed, hop, Stopwatch.GetTimestamp());
        var outcome = request.Outcome;
        if (!_outbox.TryEnqueue(request))
        {
            request.Complete(RouteOutcome.Unavailable);
            _metrics.BackplaneError();
            ClusterLog.RouteFailed(_logger, message.Dst, $"{_outbox.Capacity} messages are already waiting for Redis");
        }

        return outcome;
    }

    // The batch in calls of at most MaxRoutesPerCall messages and about MaxBytesPerCall bytes (so one bundle stays far
    // below Redis' pub/sub output limit), all sent before the first answer is read (pipelined, in order on one
    // connection); then every request is completed in order, whatever happened. A message for a peer of this replica
    // (local when the call was built, or owned here per Redis) is handed over at its turn, after everything before it
    // has been through Redis.
    private async Task RouteBatchAsync(List<RouteRequest> batch)
    {
        var completed = 0;
        try
        {
            var here = new bool[batch.Count];
            var calls = new List<(int First, int End, int Remote, Task<RedisResult>? Call)>();
            var cluster = IsCluster;
            var sends = new SendBatch(); // one call's deliveries here leave together, one flush per peer
            var deadline = _time.GetUtcNow().ToUnixTimeMilliseconds() + _settings.ExpireTimeout;
            for (var first = 0; first < batch.Count;)
            {
                var end = first;
                var remote = 0;
                long bytes = 0;
                while (end < batch.Count && end - first < MaxRoutesPerCall && bytes < MaxBytesPerCall)
                {
                    var request = batch[end];
                    here[end] = _local.TryGet(request.Message.Dst, out _);
                    if (!here[end])
                    {
                        remote++;
                        bytes += request.Framed.Length;
                    }

                    end++;
                }

                // One primary: every call is sent before the first answer is read. A cluster's calls run one after
                // the other (each is several round trips), so a destination's messages keep their order across calls.
                calls.Add((first, end, remote, remote == 0 || cluster ? null : RouteManyAsync(batch, here, first, end, remote, deadline)));
                first = end;
            }

            foreach (var (first, end, remote, pipelined) in calls)
            {
                RedisResult[]? codes = null;
                if (remote > 0)
                {
                    try
                    {
                        var call = pipelined ?? RouteSlotsAsync(batch, here, first, end, deadline);
                        codes = (RedisResult[])(await call)!;
                    }
                    catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or InvalidCastException)
                    {
                        ClusterLog.RouteFailed(_logger, $"({end - first} messages)", ex.Message);
                    }
                }

                try
                {
                    var next = 0;
                    for (var i = first; i < end; i++)
                    {
                        var request = batch[i];
                        RouteOutcome outcome;
                        if (here[i])
                        {
                            outcome = DeliverHere(request.Message, sends);
                        }
                        else
                        {
                            outcome = codes is null || next >= codes.Length ? RouteOutcome.Unavailable : (int)codes[next] switch
                            {
                                1 => RouteOutcome.Delivered,
                                2 => RouteOutcome.Queued,
                                3 => RouteOutcome.QueueFull,
                                5 => DeliverHere(request.Message, sends),
                                _ => RouteOutcome.Dropped,
                            };
                            next++;
                            if (codes is null)
                            {
                                _metrics.BackplaneError();
                            }
                            else
                            {
                                _metrics.BackplanePublished(Stopwatch.GetElapsedTime(request.Started));
                            }
                        }

                        completed++;
                        // The sender's answer to a failed delivery (EXPIRE, LEAVE), sent by the continuation that runs
                        // inline here, is flushed at once: the continuation is not handed this batch.
                        request.Complete(outcome);
                    }
                }
                finally
                {
                    sends.Flush();
                }
            }
        }
        catch (Exception ex)
        {
            // Nothing above should throw; if it did, no request may be left waiting (its sender would stall).
            ClusterLog.DeliveryFailed(_logger, ex);
            for (var i = completed; i < batch.Count; i++)
            {
                batch[i].Complete(RouteOutcome.Unavailable);
            }
        }
    }

    /// <summary>A message whose destination is (per this replica's table, or Redis) a peer of this replica.</summary>
    private RouteOutcome DeliverHere(Outbound message, SendBatch batch)
    {
        if (_local.TryGet(message.Dst, out var target))
        {
            return target.TrySend(message.Frame, batch) ? RouteOutcome.DeliveredHere : RouteOutcome.Undeliverable;
        }

        // Registering here right now: held, and handed over after OPEN and its offline queue.
        if (_pending.TryGetValue(message.Dst, out var claim) && claim.TryHold(message, batch))
        {
            return RouteOutcome.DeliveredHere;
        }

        return RouteOutcome.Undeliverable; // it left meanwhile: the sender gets LEAVE, as for any failed delivery
    }

    private Task<RedisResult> RouteManyAsync(List<RouteRequest> batch, bool[] here, int first, int end, int remote, long deadline)
    {
        var keys = new RedisKey[2 + (3 * remote)];
        var values = new RedisValue[10 + (4 * remote)];
        keys[0] = _keys.Queues;
        keys[1] = _keys.OfflineTotals;
        values[0] = _keys.ReplicaChannelPrefix;
        values[1] = _settings.OfflineQueuePerPeer;
        values[2] = (_settings.ExpireTimeout * 2L) + 60_000;
        values[3] = deadline;
        values[4] = ReplicaId;
        values[5] = _settings.OfflineQueueTotalMessages;
        values[6] = _settings.OfflineQueueTotalBytes;
        values[7] = _settings.OfflineQueuePerSender;
        values[8] = _settings.OfflineQueuePerSenderBytes;
        values[9] = _keys.SenderPrefix;
        var k = 0;
        for (var i = first; i < end; i++)
        {
            if (here[i])
            {
                continue;
            }

            var request = batch[i];
            var message = request.Message;
            keys[2 + (3 * k)] = _keys.Peer(message.Dst);
            keys[3 + (3 * k)] = _keys.Queue(message.Dst);
            keys[4 + (3 * k)] = _keys.Told(message.Dst);
            values[10 + (4 * k)] = request.Framed;
            values[11 + (4 * k)] = message.Dst;
            values[12 + (4 * k)] = message.Src;
            values[13 + (4 * k)] = (message.Type.IsQueueable() ? 1 : 0) | (request.Hop == 0 ? 0 : 2);
            k++;
        }

        try
        {
            return Db.ScriptEvaluateAsync(RouteScripts.RouteMany, keys, values);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            return Task.FromException<RedisResult>(ex);
        }
    }
}
