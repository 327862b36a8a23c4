using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>The subscription and dispatch: this replica's channel, envelopes and bundles handed to local peers without ever awaiting a socket.</summary>
public sealed partial class RedisPeerDirectory
{
    /// <summary>
    /// Subscribes to this replica's channel (an ordered message queue), waiting for Redis if it is down. A failed
    /// attempt is undone before the next, so no orphaned queue can swallow messages; once subscribed, the Redis
    /// client restores the subscription by itself after a reconnect.
    /// </summary>
    public async Task SubscribeAsync(CancellationToken cancellationToken)
    {
        var subscriber = _redis.GetSubscriber();
        while (_subscription is null)
        {
            if (_redis.IsConnected)
            {
                // Sharded or classic is known once a server answered: decided here, not before Redis is reachable.
                var channel = _keys.Replica(ReplicaId, IsCluster);
                await LoadScriptsAsync();
                try
                {
                    var queue = await subscriber.SubscribeAsync(channel);
                    _ = PumpAsync(queue);
                    _subscription = queue;
                    ClusterLog.Topology(_logger, ReplicaId, IsCluster
                        ? "a Redis Cluster (scripts per hash slot, sharded pub/sub)"
                        : "one Redis primary (classic pub/sub)");
                    return;
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    ClusterLog.SubscribeFailed(_logger, ReplicaId, ex);
                    try
                    {
                        await subscriber.UnsubscribeAsync(channel);
                    }
                    catch (Exception again) when (again is RedisException or TimeoutException)
                    {
                        ClusterLog.PublishFailed(_logger, again.Message);
                    }
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }
    }

    /// <summary>Every script a replica runs (<c>OfflineScripts.Budget</c> and <c>.Refusal</c> are parts of these).</summary>
    public static IReadOnlyList<string> LuaScripts => Scripts;

    private static readonly string[] Scripts =
    [
        ClaimScripts.Claim, ClaimScripts.Delivered, ClaimScripts.Release, ClaimScripts.Renew,
        RouteScripts.RouteMany, SlotRouteScripts.Enqueue,
        OfflineScripts.TakeExpired, OfflineScripts.Reserve, OfflineScripts.GiveBack,
    ];

    /// <summary>
    /// Loads every script into each primary's script cache before this replica subscribes (and so before it is ready):
    /// the first script a server runs can be slow — Garnet starts its Lua engine on it, 0.9 s on a loaded 2-core machine
    /// and past a claim's 2 s budget under more load, so the first claim was refused. A failure is logged and costs
    /// nothing else: the Redis client loads a script it has not seen on its first call anyway.
    /// </summary>
    private async Task LoadScriptsAsync()
    {
        foreach (var server in _redis.GetServers().Where(server => server.IsConnected && !server.IsReplica))
        {
            try
            {
                await Task.WhenAll(Scripts.Select(script => server.ScriptLoadAsync(script)));
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                ClusterLog.ScriptLoadFailed(_logger, server.EndPoint.ToString() ?? "?", ex.Message);
            }
        }
    }

    // The subscription's messages, in order; those that arrived together are delivered as one batch of sends.
    private async Task PumpAsync(ChannelMessageQueue queue)
    {
        var batch = new SendBatch(); // reused: one flush per peer for the messages that arrived together
        try
        {
            while (true)
            {
                var message = await queue.ReadAsync();
                try
                {
                    do
                    {
                        try
                        {
                            if (!ClusterEnvelope.ForEach((byte[])message.Message!, (self: this, batch), static (state, envelope) => state.self.OnEnvelope(envelope, state.batch)))
                            {
                                ClusterLog.BadEnvelope(_logger);
                            }
                        }
                        catch (Exception ex) when (ex is not OutOfMemoryException)
                        {
                            ClusterLog.DeliveryFailed(_logger, ex);
                        }
                    }
                    while (queue.TryRead(out message));
                }
                finally
                {
                    batch.Flush();
                }
            }
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            // Unsubscribed (shutdown).
        }
    }

    private void OnEnvelope(ReadOnlyMemory<byte> data, SendBatch batch)
    {
        if (!ClusterEnvelope.TryRead(data, out var envelope))
        {
            ClusterLog.BadEnvelope(_logger);
            return;
        }

        if (envelope.Kind == EnvelopeKind.Close)
        {
            if (_local.TryGet(envelope.Dst, out var old) && old.ConnectionId == envelope.ConnectionId)
            {
                old.Close(DisconnectReason.Takeover);
            }

            return;
        }

        // A copy: a bundle's array must not stay alive as long as the slowest of its receivers' send queues.
        var frame = envelope.Frame.ToArray();
        using var activity = envelope.TraceParent.Length == 0
            ? null
            : SignalingActivity.StartDelivery(envelope.TraceParent, envelope.Type.Name(), envelope.Dst);
        if (_local.TryGet(envelope.Dst, out var target))
        {
            if (target.TrySend(frame, batch))
            {
                // Counted once, as relayed by the sender's replica; here only the end-to-end time is recorded.
                _metrics.RemoteRelayDuration(NowMicroseconds() - envelope.SentAtMicroseconds);
            }
            else
            {
                Bounce(envelope, batch);
            }

            return;
        }

        if (_pending.TryGetValue(envelope.Dst, out var claim)
            && claim.TryHold(new Outbound(envelope.Type, envelope.Src, envelope.Dst, frame), batch))
        {
            return;
        }

        if (envelope.Hop == 0)
        {
            // The peer left (or moved) since the sender looked it up: route once more, never back to us.
            _ = RerouteAsync(envelope, frame);
        }
        else
        {
            Bounce(envelope, batch);
        }
    }

    private async Task RerouteAsync(ClusterEnvelope envelope, byte[] frame)
    {
        var outcome = await RouteAsync(new Outbound(envelope.Type, envelope.Src, envelope.Dst, frame), hop: 1);
        if (outcome is RouteOutcome.QueueFull or RouteOutcome.Unavailable)
        {
            SendToSender(envelope.Src, RelayFrame.Expire(envelope.Dst, envelope.Src), MessageType.Expire, envelope.Dst);
        }
        else if (outcome == RouteOutcome.Undeliverable)
        {
            Bounce(envelope);
        }
    }

    /// <summary>Delivery failed on this replica: the sender (wherever it is) gets LEAVE, as in the reference.</summary>
    private void Bounce(ClusterEnvelope envelope, SendBatch? batch = null)
    {
        _metrics.MessageDropped();
        if (envelope.Type != MessageType.Leave)
        {
            SendToSender(envelope.Src, RelayFrame.Leave(envelope.Dst, envelope.Src), MessageType.Leave, envelope.Dst, batch);
        }
    }

    private void SendToSender(string sender, byte[] frame, MessageType type, string from, SendBatch? batch = null)
    {
        if (_local.TryGet(sender, out var local))
        {
            local.TrySend(frame, batch);
            return;
        }

        _ = RouteAsync(new Outbound(type, from, sender, frame), hop: 1).AsTask();
    }

    // An offline queue entry is the bare cluster envelope (it starts with its version byte, ≥ 1). Entries written by
    // earlier versions were "{src}\n{frame}" (a peer id never starts with a control byte); both are read.
    private static bool IsEnvelopeEntry(byte[] entry, out ClusterEnvelope envelope)
    {
        envelope = default;
        return entry.Length > 0 && entry[0] is >= 1 and < 32 && ClusterEnvelope.TryRead(entry, out envelope);
    }

    private static byte[] FrameOf(byte[] entry) => IsEnvelopeEntry(entry, out var envelope)
        ? envelope.Frame.ToArray()
        : entry[(Array.IndexOf(entry, (byte)'\n') + 1)..];
}
