using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Routing;

/// <summary>
/// The embedded default: one replica, no backplane. One lock makes "claim + take the queue + register" and
/// "look up + deliver or enqueue" atomic with respect to each other, so a message is never stranded in a queue
/// while its destination is online, and OPEN and queued messages always precede live ones.
/// Relays to connected peers never take this lock (the router's local shortcut).
/// With <see cref="SignalingOptions.IdReservation"/>, a released id stays reserved for its token until a deadline
/// (<see cref="IdReservations"/>); with signed tokens (<see cref="SignalingOptions.TokenSecret"/>) every token that
/// reaches a claim was verified for its id, so it takes the id over from any holder or reservation.
/// </summary>
public sealed class InMemoryPeerDirectory : IPeerDirectory
{
    private readonly Lock _gate = new();
    private readonly LocalPeerTable _local;
    private readonly TimeProvider _time;
    private readonly SignalingMetrics _metrics;
    private readonly OfflineQueues _queues;
    private readonly long _expireTicks;
    private readonly bool _signedTokens;
    private readonly IdReservations _reservations;

    public InMemoryPeerDirectory(
        LocalPeerTable local,
        TimeProvider time,
        IOptions<SignalingOptions> options,
        SignalingMetrics metrics)
    {
        _local = local;
        _time = time;
        _metrics = metrics;
        var settings = options.Value;
        _queues = new OfflineQueues(
            settings.OfflineQueuePerPeer,
            settings.OfflineQueueTotalBytes,
            settings.OfflineQueueTotalMessages,
            settings.OfflineQueuePerSender,
            settings.OfflineQueuePerSenderBytes);
        _expireTicks = settings.ExpireTimeout * time.TimestampFrequency / 1000;
        _signedTokens = settings.SignedTokensOn;
        // A bound on what closed peers can leave behind: four times the peers this replica takes at once.
        _reservations = new IdReservations(settings.IdReservation * time.TimestampFrequency / 1000, (int)Math.Min(int.MaxValue, 4L * Math.Max(settings.ConcurrentLimit, 1000)));
    }

    public ValueTask<ClaimResult> ClaimAsync(IPeerConnection peer, int concurrentLimit, SendBatch? batch, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var outcome = ClaimOutcome.Registered;
            if (_local.TryGet(peer.Id, out var holder))
            {
                if (!_signedTokens && !string.Equals(holder.Token, peer.Token, StringComparison.Ordinal))
                {
                    return ValueTask.FromResult(new ClaimResult(ClaimOutcome.IdTaken));
                }

                outcome = ClaimOutcome.TookOver;
            }
            else if (!_reservations.MayClaim(peer.Id, peer.Token, _signedTokens, _time.GetTimestamp()))
            {
                return ValueTask.FromResult(new ClaimResult(ClaimOutcome.IdTaken));
            }
            else if (_local.Count >= concurrentLimit)
            {
                return ValueTask.FromResult(new ClaimResult(ClaimOutcome.LimitReached));
            }

            peer.TrySend(ServerMessages.Open, batch);
            var queued = _queues.Take(peer.Id);
            foreach (var message in queued)
            {
                peer.TrySend(message.Frame, batch);
            }

            _metrics.OfflineDelivered(queued.Count);
            _reservations.Remove(peer.Id);
            var superseded = _local.Set(peer);
            return ValueTask.FromResult(new ClaimResult(outcome, superseded));
        }
    }

    public ValueTask ReleaseAsync(IPeerConnection peer)
    {
        lock (_gate)
        {
            // Only the holder's own close reserves: a superseded socket no longer holds the id.
            if (_local.TryRemove(peer))
            {
                _reservations.Reserve(peer.Id, peer.Token, _time.GetTimestamp());
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<RouteOutcome> RouteAsync(Outbound message, SendBatch? batch = null)
    {
        RouteOutcome outcome;
        lock (_gate)
        {
            if (_local.TryGet(message.Dst, out var target))
            {
                outcome = target.TrySend(message.Frame, batch) ? RouteOutcome.DeliveredHere : RouteOutcome.Undeliverable;
            }
            else if (!message.Type.IsQueueable())
            {
                outcome = RouteOutcome.Dropped;
            }
            else
            {
                outcome = _queues.Enqueue(message, _time.GetTimestamp());
            }
        }

        return ValueTask.FromResult(outcome);
    }

    public ValueTask<IReadOnlyList<string>> GetPeerIdsAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<string>>([.. _local.Ids]);

    public ValueTask<bool> IsRegisteredAsync(string id, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_local.TryGet(id, out _));

    public ValueTask<IReadOnlyList<ExpiredPair>> TakeExpiredAsync(CancellationToken cancellationToken)
    {
        var expired = new List<ExpiredPair>();
        lock (_gate)
        {
            _queues.TakeExpired(_time.GetTimestamp(), _expireTicks, expired);
            _reservations.RemoveLapsed(_time.GetTimestamp());
        }

        return ValueTask.FromResult<IReadOnlyList<ExpiredPair>>(expired);
    }
}
