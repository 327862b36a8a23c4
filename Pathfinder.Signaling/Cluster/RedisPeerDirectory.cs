using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// The peer directory shared by every replica through Redis: presence leases (cluster-wide ids), delivery to the
/// replica that owns a peer over pub/sub, offline queues and their expiry. Each operation is one Lua script, one
/// round trip. Messages arriving on this replica's channel are handed to local peers with a non-blocking
/// <see cref="IPeerConnection.TrySend"/> — a client socket is never awaited inside a Redis callback.
/// <para>
/// Claims are decided by Redis, and only by Redis. A claim whose script fails or times out (Redis down, stalled,
/// paused) is refused: the client gets the protocol's ERROR with a retryable text
/// (<see cref="ServerMessages.RegistrationUnavailableText"/>) and its socket closes; there is no local fallback, so
/// a slow or absent Redis never grants an id. A compare-and-delete of the refused claim's lease follows it on the
/// same connection, so a claim that Redis runs late (after the client gave up on it) leaves no orphaned lease.
/// </para>
/// <para>
/// Outage policy (Redis unreachable): connections already registered keep their ids and peers on the same replica
/// keep relaying; new ids are refused as above; a message for a peer that is not on this replica is answered at once
/// with EXPIRE to its sender (the client reports peer-unavailable) instead of being lost silently; the peer list
/// falls back to local ids; readiness reports the backplane unhealthy. When Redis answers again, the lease loop
/// (<see cref="PresenceLeaseService"/>, every third of the lease and at once on reconnect) renews every local lease:
/// one still ours is extended, one that ran out meanwhile is taken again if nobody else took it, and one now held by
/// another token closes the local socket (reason takeover, log event 108). A second holder can only appear through a
/// lease that ran out, and the first renewal after Redis is back finds it, so no id is held by two sockets for longer
/// than one lease after Redis answers again.
/// </para>
/// <para>
/// <c>concurrent_limit</c> is exact: a claim for an id that is new on this replica reserves a slot (registered peers
/// plus claims in flight, counted under one lock) before its round trip, and gives it back unless it registers.
/// </para>
/// </summary>
public sealed class RedisPeerDirectory : IPeerDirectory, IDisposable
{
    /// <summary>Expired queues per sweep script call.</summary>
    private const int ExpireBatch = 512;

    /// <summary>Sweep script calls per tick at most: 64 × 512 = 32,768 queues, far beyond what one tick sees.</summary>
    private const int MaxSweepCalls = 64;

    /// <summary>Messages per route script call (a batch larger than this is split into pipelined calls).</summary>
    private const int MaxRoutesPerCall = 128;

    /// <summary>Envelope bytes per route script call (and so per bundle), give or take one message.</summary>
    private const int MaxBytesPerCall = 1024 * 1024;

    /// <summary>Messages that may wait for Redis before new ones are refused (the sender is told EXPIRE).</summary>
    private const int OutboxCapacity = 20_000;

    /// <summary>Bytes of envelopes that may wait for Redis (or be in the call that is out) before new ones are refused.</summary>
    private const long OutboxByteCapacity = 16L * 1024 * 1024;

    private readonly IConnectionMultiplexer _redis;
    private readonly LocalPeerTable _local;
    private readonly TimeProvider _time;
    private readonly SignalingMetrics _metrics;
    private readonly ILogger<RedisPeerDirectory> _logger;
    private readonly RedisKeys _keys;
    private readonly SignalingOptions _settings;
    private readonly int _leaseMs;
    private readonly ConcurrentDictionary<string, PendingClaim> _pending = new(StringComparer.Ordinal);
    private readonly Lock _slots = new();
    private int _claiming;
    private readonly SemaphoreSlim[] _claimGates = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];
    private readonly RouteOutbox _outbox;
    private ChannelMessageQueue? _subscription;

    public RedisPeerDirectory(
        IConnectionMultiplexer redis,
        LocalPeerTable local,
        TimeProvider time,
        IOptions<SignalingOptions> options,
        IOptions<ClusterOptions> cluster,
        ReplicaIdentity replica,
        SignalingMetrics metrics,
        ILogger<RedisPeerDirectory> logger)
    {
        _redis = redis;
        _local = local;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _settings = options.Value;
        _leaseMs = cluster.Value.LeaseMilliseconds;
        _keys = new RedisKeys(cluster.Value.KeyPrefix);
        ReplicaId = replica.Id;
        _outbox = new RouteOutbox(RouteBatchAsync, OutboxCapacity, OutboxByteCapacity);
    }

    /// <summary>This replica's id on the backplane.</summary>
    public string ReplicaId { get; }

    private IDatabase Db => _redis.GetDatabase();

    /// <summary>True once this replica listens on its channel.</summary>
    public bool IsSubscribed => _subscription is not null;

    /// <summary>
    /// Subscribes to this replica's channel (an ordered message queue), waiting for Redis if it is down. A failed
    /// attempt is undone before the next, so no orphaned queue can swallow messages; once subscribed, the Redis
    /// client restores the subscription by itself after a reconnect.
    /// </summary>
    public async Task SubscribeAsync(CancellationToken cancellationToken)
    {
        var subscriber = _redis.GetSubscriber();
        var channel = _keys.Replica(ReplicaId);
        while (_subscription is null)
        {
            if (_redis.IsConnected)
            {
                try
                {
                    var queue = await subscriber.SubscribeAsync(channel);
                    _ = PumpAsync(queue);
                    _subscription = queue;
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

    public string ValueOf(IPeerConnection peer) =>
        string.Create(null, stackalloc char[64], $"{ReplicaId}\n{peer.Token}\n{peer.ConnectionId}");

    // The caller's batch is not used: OPEN and the queue are handed over after the claim's round trip, in a batch of
    // their own (PendingClaim.Activate).
    public async ValueTask<ClaimResult> ClaimAsync(IPeerConnection peer, int concurrentLimit, SendBatch? batch, CancellationToken cancellationToken)
    {
        // A new id on this replica needs a slot, reserved before the round trip: simultaneous claims cannot all see
        // the same free count. An id this replica already holds (a take-over here) needs none.
        var reserved = false;
        lock (_slots)
        {
            if (!_local.TryGet(peer.Id, out _))
            {
                if (_local.Count + _claiming >= concurrentLimit)
                {
                    return new ClaimResult(ClaimOutcome.LimitReached);
                }

                _claiming++;
                reserved = true;
            }
        }

        var gate = _claimGates[(uint)StringComparer.Ordinal.GetHashCode(peer.Id) % (uint)_claimGates.Length];
        try
        {
            await gate.WaitAsync(cancellationToken);
        }
        catch
        {
            GiveBack(reserved);
            throw;
        }

        var pending = new PendingClaim(peer);
        _pending[peer.Id] = pending;
        try
        {
            RedisResult result;
            try
            {
                result = await Db.ScriptEvaluateAsync(
                    RedisScripts.Claim,
                    [_keys.Peer(peer.Id), _keys.Queue(peer.Id), _keys.Queues, _keys.Told(peer.Id), _keys.OfflineTotals],
                    [ValueOf(peer), peer.Token, _leaseMs, peer.Id, _keys.SenderPrefix]);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                // Only Redis decides: no answer is no id. Whatever was held for the id goes where Redis says.
                _metrics.BackplaneError();
                ClusterLog.ClaimRefused(_logger, peer.Id, ex.Message);
                UndoLateClaim(peer);
                foreach (var held in pending.Abandon())
                {
                    _ = RouteAsync(held, hop: 1).AsTask();
                }

                return new ClaimResult(ClaimOutcome.Unavailable);
            }

            var parts = (RedisResult[])result!;
            if ((int)parts[0] == 0)
            {
                // Someone else holds the id: whatever was held for it here belongs to that holder.
                foreach (var held in pending.Abandon())
                {
                    _ = RouteAsync(held, hop: 1).AsTask();
                }

                return new ClaimResult(ClaimOutcome.IdTaken);
            }

            var previous = (string?)parts[1];
            var queued = ((RedisResult[])parts[2]!).Select(e => FrameOf((byte[])e!)).ToList();
            IPeerConnection? superseded;
            lock (_slots)
            {
                // Registered and unreserved in one step: the count of registered + in-flight never dips or doubles.
                superseded = pending.Activate(_local, queued);
                if (reserved)
                {
                    _claiming--;
                    reserved = false;
                }
            }

            _metrics.OfflineDelivered(queued.Count);

            if (!string.IsNullOrEmpty(previous))
            {
                await SupersedeRemoteAsync(peer.Id, previous);
                return new ClaimResult(ClaimOutcome.TookOver, superseded);
            }

            return new ClaimResult(superseded is null ? ClaimOutcome.Registered : ClaimOutcome.TookOver, superseded);
        }
        finally
        {
            GiveBack(reserved);
            _pending.TryRemove(new KeyValuePair<string, PendingClaim>(peer.Id, pending));
            gate.Release();
        }
    }

    private void GiveBack(bool reserved)
    {
        if (reserved)
        {
            lock (_slots)
            {
                _claiming--;
            }
        }
    }

    /// <summary>
    /// A refused claim may still run in Redis later (it was sent; the client only stopped waiting). Queued behind it
    /// on the same connection, a compare-and-delete of its value removes the lease it would leave, so the id is not
    /// blocked for a lease by a socket that was told ERROR.
    /// </summary>
    private void UndoLateClaim(IPeerConnection peer)
    {
        try
        {
            _ = Db.ScriptEvaluateAsync(RedisScripts.Release, [_keys.Peer(peer.Id)], [ValueOf(peer)], CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            ClusterLog.ReleaseFailed(_logger, peer.Id, ex.Message);
        }
    }

    /// <summary>The previous holder (same token) was on another replica: ask it to close that connection.</summary>
    private async Task SupersedeRemoteAsync(string id, string previous)
    {
        var parts = previous.Split('\n');
        if (parts.Length != 3 || parts[0] == ReplicaId || !long.TryParse(parts[2], out var connectionId))
        {
            return;
        }

        var envelope = new ClusterEnvelope(EnvelopeKind.Close, 0, MessageType.Ignored, NowMicroseconds(), connectionId, id, string.Empty, string.Empty, default);
        if (!envelope.TryWrite(out var data))
        {
            return; // an id too long for an envelope cannot have been claimed; the lease renewal closes it anyway
        }

        try
        {
            await _redis.GetSubscriber().PublishAsync(_keys.Replica(parts[0]), data);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // The old replica's lease renewal will find the key taken and close the connection anyway.
            ClusterLog.PublishFailed(_logger, ex.Message);
        }
    }

    public async ValueTask ReleaseAsync(IPeerConnection peer)
    {
        if (!_local.TryRemove(peer))
        {
            return; // not (or no longer) the registered connection: nothing of ours to free
        }

        try
        {
            await Db.ScriptEvaluateAsync(RedisScripts.Release, [_keys.Peer(peer.Id)], [ValueOf(peer)]);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            ClusterLog.ReleaseFailed(_logger, peer.Id, ex.Message);
        }
    }

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
            var calls = new List<(int First, int End, Task<RedisResult>? Call)>();
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

                calls.Add((first, end, remote == 0 ? null : RouteManyAsync(batch, here, first, end, remote, deadline)));
                first = end;
            }

            foreach (var (first, end, call) in calls)
            {
                RedisResult[]? codes = null;
                if (call is not null)
                {
                    try
                    {
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
            return Db.ScriptEvaluateAsync(RedisScripts.RouteMany, keys, values);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            return Task.FromException<RedisResult>(ex);
        }
    }

    public async ValueTask<IReadOnlyList<string>> GetPeerIdsAsync(CancellationToken cancellationToken)
    {
        try
        {
            var server = _redis.GetServers().FirstOrDefault(s => s.IsConnected && !s.IsReplica)
                ?? throw new TimeoutException("no connected Redis primary");
            var ids = new List<string>();
            await foreach (var key in server.KeysAsync(pattern: _keys.PeerPattern, pageSize: 1000).WithCancellation(cancellationToken))
            {
                ids.Add(((string)key!)[_keys.PeerKeyPrefixLength..]);
            }

            return ids;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            ClusterLog.RouteFailed(_logger, "(peer list)", ex.Message);
            return [.. _local.Ids];
        }
    }

    public async ValueTask<bool> IsRegisteredAsync(string id, CancellationToken cancellationToken)
    {
        if (_local.TryGet(id, out _))
        {
            return true;
        }

        try
        {
            return await Db.KeyExistsAsync(_keys.Peer(id));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return false;
        }
    }

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

    /// <summary>
    /// Renews this replica's leases (and re-registers them after an outage) in batches. Returns the local
    /// connections whose id is now held by someone else; the caller closes them.
    /// </summary>
    public async Task<IReadOnlyList<IPeerConnection>> RenewLeasesAsync(CancellationToken cancellationToken)
    {
        var lost = new List<IPeerConnection>();
        foreach (var batch in _local.Connections.Chunk(200))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var keys = batch.Select(p => _keys.Peer(p.Id)).ToArray();
            var values = new RedisValue[batch.Length + 1];
            values[0] = _leaseMs;
            for (var i = 0; i < batch.Length; i++)
            {
                values[i + 1] = ValueOf(batch[i]);
            }

            var result = await Db.ScriptEvaluateAsync(RedisScripts.Renew, keys, values);
            foreach (RedisResult index in (RedisResult[])result!)
            {
                lost.Add(batch[(int)index - 1]);
            }
        }

        return lost;
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

    private long NowMicroseconds() => (_time.GetUtcNow().UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;

    /// <summary>Leaves this replica's channel (on shutdown, while the Redis client is still alive).</summary>
    public async Task StopAsync()
    {
        if (_subscription is { } subscription)
        {
            _subscription = null;
            try
            {
                await subscription.UnsubscribeAsync();
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                ClusterLog.PublishFailed(_logger, ex.Message);
            }
        }
    }

    public void Dispose()
    {
        foreach (var gate in _claimGates)
        {
            gate.Dispose();
        }
    }

    /// <summary>
    /// A claim in flight on this replica. Messages published to us for the id before the claim finished are held
    /// here and handed over after OPEN and the queued messages, so the order OPEN → queued → live always holds.
    /// </summary>
    private sealed class PendingClaim(IPeerConnection peer)
    {
        private readonly Lock _gate = new();
        private List<Outbound>? _held = [];
        private bool _abandoned;

        /// <summary>
        /// Holds a message until the claim completes; false once the claim was abandoned. Once it has completed, the
        /// message is sent at once, or left to <paramref name="batch"/>.
        /// </summary>
        public bool TryHold(Outbound message, SendBatch batch)
        {
            lock (_gate)
            {
                if (_abandoned)
                {
                    return false;
                }

                if (_held is null)
                {
                    return peer.TrySend(message.Frame, batch);
                }

                _held.Add(message);
                return true;
            }
        }

        /// <summary>The claim failed: returns what was held, to be routed to the real holder.</summary>
        public List<Outbound> Abandon()
        {
            lock (_gate)
            {
                _abandoned = true;
                var held = _held ?? [];
                _held = null;
                return held;
            }
        }

        public IPeerConnection? Activate(LocalPeerTable table, IEnumerable<byte[]> queued)
        {
            // Batched: OPEN leaves once the peer is in the table, so a client that has OPEN is registered here.
            var batch = new SendBatch();
            try
            {
                return ActivateBatched(table, queued, batch);
            }
            finally
            {
                batch.Flush();
            }
        }

        private IPeerConnection? ActivateBatched(LocalPeerTable table, IEnumerable<byte[]> queued, SendBatch batch)
        {
            lock (_gate)
            {
                peer.TrySend(ServerMessages.Open, batch);
                foreach (var frame in queued)
                {
                    peer.TrySend(frame, batch);
                }

                foreach (var message in _held!)
                {
                    peer.TrySend(message.Frame, batch);
                }

                _held = null;
                return table.Set(peer);
            }
        }
    }
}
