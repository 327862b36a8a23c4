namespace Pathfinder.Signaling.Routing;

/// <summary>
/// Where peers live beyond this replica's own table: id claims, delivery to peers that are not local, and offline
/// queues with their expiry. The in-memory implementation serves one replica; the cluster implementation shares the
/// same contract across replicas. Every operation that must be atomic (claim + take queue, look up + deliver or
/// enqueue) is one call, so each implementation can make it atomic its own way.
/// </summary>
public interface IPeerDirectory
{
    /// <summary>
    /// Claims <paramref name="peer"/>'s id. On success the connection has been handed OPEN and then the id's queued
    /// messages, in that order, before any live message can reach it, and it is in the local table. Frames handed over
    /// before the call first yields may be left to <paramref name="batch"/> (never after: the caller flushes it then).
    /// </summary>
    ValueTask<ClaimResult> ClaimAsync(IPeerConnection peer, int concurrentLimit, SendBatch? batch, CancellationToken cancellationToken);

    /// <summary>Releases the id if it is still held by exactly this connection (a stale close frees nothing).</summary>
    ValueTask ReleaseAsync(IPeerConnection peer);

    /// <summary>
    /// Delivers a message whose destination was not found in the local table, or queues/drops it. A delivery made
    /// before the call returns may be left to <paramref name="batch"/>; one made later is flushed at once.
    /// </summary>
    ValueTask<RouteOutcome> RouteAsync(Outbound message, SendBatch? batch = null);

    /// <summary>All registered ids (every replica).</summary>
    ValueTask<IReadOnlyList<string>> GetPeerIdsAsync(CancellationToken cancellationToken);

    /// <summary>True when the id is registered anywhere.</summary>
    ValueTask<bool> IsRegisteredAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// The replica holding a peer id registered on another replica (null: unknown or not registered). A single replica
    /// has no other: callers look in the local table first.
    /// </summary>
    ValueTask<string?> ReplicaOfAsync(string id, CancellationToken cancellationToken) => ValueTask.FromResult<string?>(null);

    /// <summary>
    /// Removes every offline queue older than the expire timeout and returns the senders to tell, one per
    /// (destination, sender) pair. Each expired queue is returned by exactly one caller.
    /// </summary>
    ValueTask<IReadOnlyList<ExpiredPair>> TakeExpiredAsync(CancellationToken cancellationToken);
}

/// <summary>The outcome of a claim and, for a take-over on this replica, the connection that was superseded.</summary>
public readonly record struct ClaimResult(ClaimOutcome Outcome, IPeerConnection? Superseded = null);
