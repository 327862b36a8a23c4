namespace Pathfinder.Signaling.Routing;

/// <summary>
/// What routing needs of one connected peer. Transport implements it; routing never sees a socket.
/// </summary>
public interface IPeerConnection
{
    /// <summary>The peer id the client asked for.</summary>
    string Id { get; }

    /// <summary>The client's address (after the trusted proxies' forwarded headers), for logs.</summary>
    string RemoteIp { get; }

    /// <summary>The client's opaque token; same id + same token is the owner reconnecting.</summary>
    string Token { get; }

    /// <summary>Unique per connection within this process: tells two connections of the same id apart.</summary>
    long ConnectionId { get; }

    /// <summary>Timestamp (<see cref="TimeProvider.GetTimestamp"/>) of the last HEARTBEAT or of registration.</summary>
    long LastHeartbeat { get; set; }

    /// <summary>Keeps this peer's messages in order while some travel through the directory (owned by routing).</summary>
    RouteOrder Order { get; }

    /// <summary>This peer's relay rate: how many messages and bytes it may still relay (owned by routing).</summary>
    RelayRate RelayRate { get; }

    /// <summary>
    /// Queues a complete frame for this peer without blocking. False when the peer is closing or its bounded send
    /// queue is over its budget in frames or bytes (it is then closed as a slow consumer): the frame was not and will
    /// not be delivered. With a <paramref name="batch"/>, the write is left to that batch's
    /// <see cref="SendBatch.Flush"/>; without one (null), it is flushed now.
    /// </summary>
    bool TrySend(ReadOnlyMemory<byte> frame, SendBatch? batch = null);

    /// <summary>Closes the connection (idempotent, never blocks); the reason is kept for logs and metrics.</summary>
    void Close(DisconnectReason reason);
}

/// <summary>Why a registered peer went away.</summary>
public enum DisconnectReason
{
    ClientClose,
    HeartbeatTimeout,
    SlowConsumer,
    Takeover,
    MessageTooBig,
    Shutdown,
    Error,

    /// <summary>It kept sending over its relay rate (<see cref="RelayRate"/>).</summary>
    RelayRateExceeded,
}

public static class DisconnectReasons
{
    /// <summary>Tag value for metrics and logs: small, fixed set.</summary>
    public static string Name(this DisconnectReason reason) => reason switch
    {
        DisconnectReason.ClientClose => "client_close",
        DisconnectReason.HeartbeatTimeout => "heartbeat_timeout",
        DisconnectReason.SlowConsumer => "slow_consumer",
        DisconnectReason.Takeover => "takeover",
        DisconnectReason.MessageTooBig => "message_too_big",
        DisconnectReason.Shutdown => "shutdown",
        DisconnectReason.RelayRateExceeded => "relay_rate",
        _ => "error",
    };
}
