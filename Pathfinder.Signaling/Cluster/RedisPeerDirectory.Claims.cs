using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>Claims: an id is granted by Redis only (see the class header) and released by compare-and-delete; leases are renewed in RedisPeerDirectory.Leases.cs.</summary>
public sealed partial class RedisPeerDirectory
{
    public string ValueOf(IPeerConnection peer) =>
        string.Create(null, stackalloc char[64], $"{ReplicaId}\n{peer.Token}\n{peer.ConnectionId}");

    /// <summary>What a released id's key holds while reserved: its token, no replica and no connection.</summary>
    private static string ReservedValueOf(IPeerConnection peer) => $"\n{peer.Token}\n";

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
                    ClaimScripts.Claim,
                    [_keys.Peer(peer.Id), _keys.Queue(peer.Id), ExpiryIndexOf(peer.Id), _keys.Told(peer.Id)],
                    [ValueOf(peer), peer.Token, _leaseMs, peer.Id, _settings.SignedTokensOn ? "1" : "0"]);
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
            var entries = ((RedisResult[])parts[2]!).Select(e => (byte[])e!).ToList();
            var queued = entries.Select(FrameOf).ToList();
            IPeerConnection? superseded = null;
            var overLimit = false;
            lock (_slots)
            {
                // A take-over here reserved no slot. Should the connection it takes over have left meanwhile, the slot
                // it freed may be someone else's by now: without a free one this claim is over the limit after all.
                if (!reserved && !_local.TryGet(peer.Id, out _) && _local.Count + _claiming >= concurrentLimit)
                {
                    overLimit = true;
                }
                else
                {
                    // Registered and unreserved in one step: the count of registered + in-flight never dips or doubles.
                    superseded = pending.Activate(_local, queued);
                    if (reserved)
                    {
                        _claiming--;
                        reserved = false;
                    }
                }
            }

            if (overLimit)
            {
                // Nothing was handed over (the queue is only read): give the lease back, then what was held for the id
                // goes to whoever holds it now (or its queue).
                await GiveUpClaimAsync(peer);
                foreach (var held in pending.Abandon())
                {
                    _ = RouteAsync(held, hop: 1).AsTask();
                }

                return new ClaimResult(ClaimOutcome.LimitReached);
            }

            _metrics.OfflineDelivered(queued.Count);
            if (entries.Count > 0)
            {
                await RemoveDeliveredAsync(peer, entries.Count);
            }

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

    /// <summary>
    /// Compare-and-delete of a lease this replica was granted (or may yet be) but does not use. No reservation: the
    /// socket's token never held the id. With <see cref="CommandFlags.FireAndForget"/> it completes at once.
    /// </summary>
    private async Task GiveUpClaimAsync(IPeerConnection peer, CommandFlags flags = CommandFlags.None)
    {
        try
        {
            await Db.ScriptEvaluateAsync(ClaimScripts.Release, [_keys.Peer(peer.Id)], [ValueOf(peer), 0, RedisValue.EmptyString], flags);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // The lease runs out: the id is free again within one lease.
            ClusterLog.ReleaseFailed(_logger, peer.Id, ex.Message);
        }
    }

    private RedisKey ExpiryIndexOf(string id) => IsCluster ? _keys.Due(RedisKeys.SlotOf(id)) : _keys.Queues;

    /// <summary>
    /// Removes the offline messages a claim handed over from the queue (and gives their budget shares back). Should
    /// Redis not answer, they stay queued: the next holder of the id is handed them again, or their senders get EXPIRE,
    /// rather than being lost.
    /// </summary>
    private async Task RemoveDeliveredAsync(IPeerConnection peer, int count)
    {
        try
        {
            var removed = await Db.ScriptEvaluateAsync(
                ClaimScripts.Delivered,
                IsCluster
                    ? [_keys.Peer(peer.Id), _keys.Queue(peer.Id), ExpiryIndexOf(peer.Id), _keys.Told(peer.Id)]
                    : [_keys.Peer(peer.Id), _keys.Queue(peer.Id), ExpiryIndexOf(peer.Id), _keys.Told(peer.Id), _keys.OfflineTotals],
                [ValueOf(peer), count, peer.Id, _keys.SenderPrefix, IsCluster ? "0" : "1"]);
            if (IsCluster && (RedisResult[])removed! is { Length: > 0 } entries)
            {
                await GiveBackEntriesAsync([.. entries.Select(e => (byte[])e!)]);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            ClusterLog.RouteFailed(_logger, "(offline queue hand-over)", ex.Message);
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
    /// blocked for a lease by a socket that was told ERROR. The offline queue it read is left as it was (the claim only
    /// reads it), so the id's next holder gets those messages.
    /// </summary>
    private void UndoLateClaim(IPeerConnection peer) => _ = GiveUpClaimAsync(peer, CommandFlags.FireAndForget);

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
            await _redis.GetSubscriber().PublishAsync(_keys.Replica(parts[0], IsCluster), data);
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
            // With IdReservation the id stays reserved for this token (cluster-wide, Redis' clock) instead of freed.
            await Db.ScriptEvaluateAsync(ClaimScripts.Release, [_keys.Peer(peer.Id)], [ValueOf(peer), _settings.IdReservation, ReservedValueOf(peer)]);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            ClusterLog.ReleaseFailed(_logger, peer.Id, ex.Message);
        }
    }
}
