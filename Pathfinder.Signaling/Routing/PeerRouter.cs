using System.Diagnostics;
using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Routing;

/// <summary>
/// Decides where each message goes: a peer on this replica (lock-free shortcut), otherwise the directory (another
/// replica, the offline queue, or nowhere). Owns registration, liveness and expiry policy; knows no sockets.
/// </summary>
public sealed class PeerRouter
{
    private readonly LocalPeerTable _local;
    private readonly IPeerDirectory _directory;
    private readonly TimeProvider _time;
    private readonly SignalingMetrics _metrics;
    private readonly ILogger<PeerRouter> _logger;
    private readonly int _concurrentLimit;
    private readonly long _aliveTicks;
    private readonly RelayRateLimits _relayLimits;
    private readonly PeerIdRules _idRules;

    public PeerRouter(
        LocalPeerTable local,
        IPeerDirectory directory,
        TimeProvider time,
        IOptions<SignalingOptions> options,
        PeerIdRules idRules,
        SignalingMetrics metrics,
        ILogger<PeerRouter> logger)
    {
        _local = local;
        _directory = directory;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _concurrentLimit = EffectiveLimit(options.Value);
        _aliveTicks = options.Value.AliveTimeout * time.TimestampFrequency / 1000;
        _relayLimits = RelayRateLimits.From(options.Value, time);
        _idRules = idRules;
    }

    /// <summary>Registered peers this replica accepts: ConcurrentLimit, capped by MaxConnections or the open-file limit.</summary>
    public int ConcurrentLimit => _concurrentLimit;

    public static int EffectiveLimit(SignalingOptions options)
    {
        var cap = options.MaxConnections > 0
            ? options.MaxConnections
            : OpenFileLimit.DerivedCap(OpenFileLimit.Budget.Limit, OpenFileLimit.Budget.InUse) ?? int.MaxValue;
        return Math.Min(options.ConcurrentLimit, cap);
    }

    /// <summary>
    /// Registers a connection whose key was accepted. On success it has been handed OPEN (and its queue); what is
    /// handed over before this call first yields is left to <paramref name="batch"/>, which the caller flushes as soon
    /// as the call returns (see <see cref="IPeerDirectory.ClaimAsync"/>).
    /// </summary>
    public async ValueTask<ClaimOutcome> ConnectAsync(IPeerConnection peer, SendBatch? batch, CancellationToken cancellationToken)
    {
        peer.LastHeartbeat = _time.GetTimestamp();
        var result = await _directory.ClaimAsync(peer, _concurrentLimit, batch, cancellationToken);
        if (result.Outcome == ClaimOutcome.TookOver)
        {
            // Logged before the old socket is told: the log never trails what a client has seen.
            Log.IdTakenOver(_logger, PeerIdRules.ForLog(peer.Id)!, peer.RemoteIp);
        }

        if (result.Superseded is { } superseded)
        {
            superseded.Close(DisconnectReason.Takeover);
        }

        return result.Outcome;
    }

    /// <summary>
    /// Frees the id of a connection that is closing, unless a newer connection already holds it. Never blocks:
    /// an asynchronous release (a backplane round trip) completes in the background.
    /// </summary>
    public void Release(IPeerConnection peer)
    {
        var pending = ReleaseAsync(peer);
        if (!pending.IsCompletedSuccessfully)
        {
            _ = pending.AsTask();
        }
    }

    /// <summary>
    /// Frees the id like <see cref="Release"/> and completes when the directory has done so (a backplane round
    /// trip for the cluster). Never throws: a failed release is logged and the lease runs out.
    /// </summary>
    public ValueTask ReleaseAsync(IPeerConnection peer)
    {
        var pending = _directory.ReleaseAsync(peer);
        return pending.IsCompletedSuccessfully ? ValueTask.CompletedTask : ObserveAsync(pending);
    }

    private async ValueTask ObserveAsync(ValueTask pending)
    {
        try
        {
            await pending;
        }
        catch (Exception ex)
        {
            Log.ReleaseFailed(_logger, ex);
        }
    }

    /// <summary>
    /// Handles one parsed client message (HEARTBEAT, relay types; everything else is ignored). A message to relay
    /// first passes the sender's relay rate (<see cref="RelayRate"/>): over it, the message is dropped. Frames queued
    /// before the call returns (deliveries here, the sender's ERROR / EXPIRE / LEAVE) are left to <paramref name="batch"/>;
    /// those queued after, when a message waits for the directory, are flushed at once.
    /// </summary>
    public ValueTask RelayAsync(IPeerConnection from, in ClientMessage message, SendBatch? batch = null)
    {
        switch (message.Type)
        {
            case MessageType.Heartbeat:
                from.LastHeartbeat = _time.GetTimestamp();
                return ValueTask.CompletedTask;
            case MessageType.Ignored:
                _metrics.MessageIgnored();
                return ValueTask.CompletedTask;
        }

        if (message.Dst is not { } dst)
        {
            // No destination: nothing to deliver. (The reference unregisters a LEAVE sender here but leaves its
            // socket open, which corrupts the registry; we simply drop it.)
            _metrics.MessageIgnored();
            return ValueTask.CompletedTask;
        }

        // The relay rate first: a sender over it is refused before anything else is looked at.
        if (!MayRelay(from, message.Payload.Length, batch))
        {
            return ValueTask.CompletedTask;
        }

        if (!_idRules.IsValidId(dst))
        {
            // No peer can hold such an id: the message is dropped and its sender told why (ERROR). The connection
            // stays open, as for a malformed frame; a sender that never reads its ERRORs fills its own send queue.
            _metrics.MessageIgnored();
            from.TrySend(_idRules.InvalidDst, batch);
            return ValueTask.CompletedTask;
        }

        var started = Stopwatch.GetTimestamp();
        var outbound = new Outbound(message.Type, from.Id, dst, RelayFrame.Write(message.Type, from.Id, dst, message.Payload));
        return SignalingActivity.IsTracing ? TracedDeliverAsync(outbound, from, started, batch) : DeliverAsync(outbound, from, started, batch);
    }

    /// <summary>
    /// Charges one message of <paramref name="bytes"/> (its payload, what a flood is made of) to the sender's relay
    /// rate. Over it, the message is dropped: the first of a streak is answered with ERROR, and a sender that goes on
    /// for <see cref="RelayRateLimits.RefusalsBeforeClose"/> messages in a row is closed (1008). The receiver is never
    /// involved.
    /// </summary>
    private bool MayRelay(IPeerConnection from, int bytes, SendBatch? batch)
    {
        var verdict = from.RelayRate.TryTake(_relayLimits, _time.GetTimestamp(), bytes);
        if (verdict == RelayVerdict.Allowed)
        {
            return true;
        }

        _metrics.RelayRateLimited();
        var (messages, data) = (_relayLimits.Messages, _relayLimits.Bytes);
        switch (verdict)
        {
            case RelayVerdict.Refused:
                if (_logger.IsEnabled(LogLevel.Debug))
                {
                    Log.RelayRateRefused(_logger, PeerIdRules.ForLog(from.Id)!, messages.PerSecond, messages.Burst, data.PerSecond, data.Burst);
                }

                from.TrySend(ServerMessages.RelayRateExceeded, batch);
                break;
            case RelayVerdict.Close:
                Log.RelayRateExceeded(_logger, PeerIdRules.ForLog(from.Id)!, from.RelayRate.RefusedInARow, messages.PerSecond, messages.Burst, data.PerSecond, data.Burst);
                from.Close(DisconnectReason.RelayRateExceeded);
                break;
        }

        return false;
    }

    // The activity is started inside this async method, so setting it current never leaks into the connection's
    // receive loop (each relay would otherwise become the parent of the next, an ever-growing chain). Each relay
    // is its own trace, not a child of the long-lived WebSocket request.
    // The batch is used only by DeliverAsync's synchronous part, before this method first yields.
    private async ValueTask TracedDeliverAsync(Outbound outbound, IPeerConnection from, long started, SendBatch? batch)
    {
        Activity.Current = null;
        using var activity = SignalingActivity.StartRelay(outbound.Type.Name(), from.Id, outbound.Dst);
        await DeliverAsync(outbound, from, started, batch);
    }

    /// <summary>
    /// Delivers a relayed (or server-made EXPIRE) message. <paramref name="sender"/> is the local connection to tell
    /// about a failed delivery, when there is one. A message the directory carries elsewhere is not waited for (its
    /// outcome is handled when it comes) unless the sender already has <see cref="MaxRoutesInFlight"/> on their way:
    /// then the sender's next read waits, which pushes back on a peer that outruns the backplane. Order per sender
    /// holds throughout (see <see cref="RouteOrder"/>). Frames queued before the call returns are left to
    /// <paramref name="batch"/>; an outcome that comes later (from the directory) is answered with a flush at once.
    /// </summary>
    public ValueTask DeliverAsync(Outbound message, IPeerConnection? sender, long started = 0, SendBatch? batch = null)
    {
        var mark = _local.RegistrationMark; // before the lookup (see RouteOrder)
        // A message to itself waits too: the answers (EXPIRE, LEAVE) to its earlier messages come first.
        var idle = true;
        if (_local.TryGet(message.Dst, out var target)
            && (sender is null || sender.Order.MayDeliverDirectly(ReferenceEquals(target, sender) ? 0 : target.Order.Registration, out idle)))
        {
            if (target.TrySend(message.Frame, batch))
            {
                _metrics.Relayed(RelayRoute.Local);
                if (started != 0)
                {
                    // From the sender's frame being read to the hand-off into the receiver's send queue.
                    _metrics.LocalRelayDuration(Stopwatch.GetElapsedTime(started));
                }
            }
            else
            {
                OnUndeliverable(message, sender, batch);
            }

            return ValueTask.CompletedTask;
        }

        var pending = _directory.RouteAsync(message, batch);
        if (pending.IsCompletedSuccessfully)
        {
            OnRouted(pending.Result, message, sender, batch);
            return ValueTask.CompletedTask;
        }

        if (sender is null)
        {
            return AwaitRoute(pending, message, sender: null);
        }

        if (target is null)
        {
            idle = sender.Order.InFlight == 0; // not asked above: nothing local to overtake, only this message to count
        }

        var inFlight = sender.Order.Started(mark, idle, message.Frame.Length);
        var routing = AwaitRoute(pending, message, sender);
        return inFlight > MaxRoutesInFlight || sender.Order.BytesInFlight > MaxRouteBytesInFlight ? routing : ValueTask.CompletedTask;
    }

    /// <summary>Messages one peer may have on their way through the directory before its reads wait for them.</summary>
    public const int MaxRoutesInFlight = 64;

    /// <summary>
    /// Bytes one peer may have on their way through the directory before its reads wait for them: with large messages
    /// the byte count, not <see cref="MaxRoutesInFlight"/>, bounds what a fast sender holds in this replica's memory.
    /// </summary>
    public const int MaxRouteBytesInFlight = 64 * 1024;

    private async ValueTask AwaitRoute(ValueTask<RouteOutcome> pending, Outbound message, IPeerConnection? sender)
    {
        try
        {
            // Later, on whatever thread completes the route: the caller's batch may be flushed by now.
            OnRouted(await pending, message, sender, batch: null);
        }
        finally
        {
            sender?.Order.Finished(message.Frame.Length);
        }
    }

    private void OnRouted(RouteOutcome outcome, Outbound message, IPeerConnection? sender, SendBatch? batch)
    {
        switch (outcome)
        {
            case RouteOutcome.Delivered:
                _metrics.Relayed(RelayRoute.Remote);
                break;
            case RouteOutcome.DeliveredHere:
                _metrics.Relayed(RelayRoute.Local);
                break;
            case RouteOutcome.Queued:
                _metrics.OfflineQueued();
                break;
            case RouteOutcome.QueueFull or RouteOutcome.Unavailable:
                _metrics.OfflineRefused();
                Log.NotDeliverable(_logger, message.Dst, outcome == RouteOutcome.QueueFull ? "its offline queue is full" : "the backplane is unavailable");
                if (sender is not null)
                {
                    // The destination cannot take more: tell the sender now, as an expiry would later.
                    sender.TrySend(RelayFrame.Expire(message.Dst, message.Src), batch);
                }

                break;
            case RouteOutcome.Undeliverable:
                OnUndeliverable(message, sender, batch);
                break;
            default:
                _metrics.MessageDropped();
                break;
        }
    }

    private void OnUndeliverable(Outbound message, IPeerConnection? sender, SendBatch? batch)
    {
        _metrics.MessageDropped();
        if (sender is not null && message.Type != MessageType.Leave)
        {
            // As the reference: a failed delivery is answered with LEAVE from the unreachable peer.
            sender.TrySend(RelayFrame.Leave(message.Dst, message.Src), batch);
        }
    }

    /// <summary>Closes every local peer whose last HEARTBEAT is at least alive_timeout old.</summary>
    public int SweepLiveness()
    {
        var now = _time.GetTimestamp();
        var dropped = 0;
        foreach (var peer in _local.Connections)
        {
            if (now - peer.LastHeartbeat >= _aliveTicks)
            {
                peer.Close(DisconnectReason.HeartbeatTimeout);
                dropped++;
            }
        }

        return dropped;
    }

    /// <summary>EXPIREs of one sweep that may be on their way through the directory at once (they share its batches).</summary>
    private const int ExpiresInFlight = 1024;

    /// <summary>
    /// Expires old offline queues and sends one EXPIRE per (sender, destination) to the sender. The EXPIREs for
    /// senders elsewhere go out together (up to <see cref="ExpiresInFlight"/> at a time), not one round trip each, so
    /// a sweep of thousands of queues still tells every sender on time.
    /// </summary>
    public async ValueTask<int> SweepExpiredAsync(CancellationToken cancellationToken)
    {
        var expired = await _directory.TakeExpiredAsync(cancellationToken);
        var inFlight = new List<Task>();
        foreach (var pair in expired)
        {
            _metrics.OfflineExpired();
            var expire = new Outbound(MessageType.Expire, pair.Offline, pair.Sender, RelayFrame.Expire(pair.Offline, pair.Sender));
            var delivery = DeliverAsync(expire, sender: null);
            if (!delivery.IsCompletedSuccessfully)
            {
                inFlight.Add(delivery.AsTask());
                if (inFlight.Count >= ExpiresInFlight)
                {
                    await Task.WhenAll(inFlight);
                    inFlight.Clear();
                }
            }
        }

        await Task.WhenAll(inFlight);
        return expired.Count;
    }

    /// <summary>Closes every local peer (shutdown).</summary>
    public void CloseAll(DisconnectReason reason)
    {
        foreach (var peer in _local.Connections)
        {
            peer.Close(reason);
        }
    }

    public ValueTask<IReadOnlyList<string>> GetPeerIdsAsync(CancellationToken cancellationToken) =>
        _directory.GetPeerIdsAsync(cancellationToken);

    /// <summary>A fresh id for <c>GET /id</c>: a UUID v4 (valid for the client's validateId) not currently registered.</summary>
    public async ValueTask<string> NewIdAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var id = Guid.NewGuid().ToString();
            if (!await _directory.IsRegisteredAsync(id, cancellationToken))
            {
                return id;
            }
        }
    }
}
