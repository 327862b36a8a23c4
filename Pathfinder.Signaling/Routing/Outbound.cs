using Pathfinder.Signaling.Protocol;

namespace Pathfinder.Signaling.Routing;

/// <summary>A relayed message on its way: the complete wire frame plus the fields routing decides on.</summary>
public sealed record Outbound(MessageType Type, string Src, string Dst, byte[] Frame);

/// <summary>What a peer directory did with a message whose destination is not connected to this replica.</summary>
public enum RouteOutcome
{
    /// <summary>Handed to the destination's replica (another one).</summary>
    Delivered,

    /// <summary>Handed to the destination, a peer of this replica (or held for it while it registers here).</summary>
    DeliveredHere,

    /// <summary>Kept in the destination's offline queue until it connects or the queue expires.</summary>
    Queued,

    /// <summary>The destination is offline and the message type is not queued (LEAVE, EXPIRE): dropped per protocol.</summary>
    Dropped,

    /// <summary>The offline queue is full: the sender is told at once with EXPIRE.</summary>
    QueueFull,

    /// <summary>The destination was registered but could not take the message: the sender gets LEAVE.</summary>
    Undeliverable,

    /// <summary>
    /// The backplane is unreachable, so where the destination lives is unknown: the sender is told at once with
    /// EXPIRE (the client reports peer-unavailable and may retry) rather than the message being silently lost.
    /// </summary>
    Unavailable,
}

/// <summary>The result of asking to register an id.</summary>
public enum ClaimOutcome
{
    /// <summary>A new registration; OPEN and any queued messages were handed to the connection in that order.</summary>
    Registered,

    /// <summary>Same id and token as a live registration: the new connection took over (it got OPEN too).</summary>
    TookOver,

    /// <summary>The id is held by another token.</summary>
    IdTaken,

    /// <summary>The concurrent limit is reached (new ids only).</summary>
    LimitReached,

    /// <summary>
    /// The directory could not decide (the backplane failed or timed out): refused, never granted locally. The client
    /// gets a retryable ERROR and the socket closes.
    /// </summary>
    Unavailable,
}

/// <summary>An offline destination whose queue expired and one of the senders that must be told (EXPIRE).</summary>
public readonly record struct ExpiredPair(string Offline, string Sender);
