namespace Pathfinder.Signaling.Cluster;

/// <summary>Log events of the Redis backplane, with stable event ids (100+; 220-239 for the abuse limits; 300-319 for Redis Cluster).</summary>
internal static partial class ClusterLog
{
    [LoggerMessage(100, LogLevel.Information, "Backplane: replica {ReplicaId} uses Redis (key prefix '{Prefix}', lease {LeaseMs} ms)")]
    public static partial void Started(ILogger logger, string replicaId, string prefix, int leaseMs);

    [LoggerMessage(101, LogLevel.Warning, "Backplane: subscribing replica {ReplicaId} failed; it is restored when Redis is back")]
    public static partial void SubscribeFailed(ILogger logger, string replicaId, Exception exception);

    [LoggerMessage(220, LogLevel.Warning, "Backplane unavailable: claim of id '{PeerId}' refused, the client may retry ({Reason})")]
    public static partial void ClaimRefused(ILogger logger, string peerId, string reason);

    [LoggerMessage(221, LogLevel.Warning, "Backplane: refused a message whose dst ({DstLength} chars) or src ({SrcLength} chars) no envelope can carry")]
    public static partial void EnvelopeRefused(ILogger logger, int dstLength, int srcLength);

    [LoggerMessage(103, LogLevel.Debug, "Backplane: routing to '{PeerId}' failed ({Reason})")]
    public static partial void RouteFailed(ILogger logger, string peerId, string reason);

    [LoggerMessage(104, LogLevel.Debug, "Backplane: releasing '{PeerId}' failed ({Reason}); its lease runs out")]
    public static partial void ReleaseFailed(ILogger logger, string peerId, string reason);

    [LoggerMessage(105, LogLevel.Debug, "Backplane: publish failed ({Reason})")]
    public static partial void PublishFailed(ILogger logger, string reason);

    [LoggerMessage(106, LogLevel.Warning, "Backplane: dropped an envelope this replica cannot read")]
    public static partial void BadEnvelope(ILogger logger);

    [LoggerMessage(107, LogLevel.Warning, "Backplane: renewing leases failed ({Reason})")]
    public static partial void RenewFailed(ILogger logger, string reason);

    [LoggerMessage(108, LogLevel.Information, "Backplane: '{PeerId}' is now held elsewhere; closing the local connection")]
    public static partial void LeaseLost(ILogger logger, string peerId);

    [LoggerMessage(109, LogLevel.Warning, "Backplane: Redis connection lost ({FailureType})")]
    public static partial void ConnectionLost(ILogger logger, string failureType);

    [LoggerMessage(110, LogLevel.Information, "Backplane: Redis connection restored; re-registering local peers")]
    public static partial void ConnectionRestored(ILogger logger);

    [LoggerMessage(112, LogLevel.Warning, "Backplane: loading the scripts into {Server} failed ({Reason}); each is loaded on its first call instead")]
    public static partial void ScriptLoadFailed(ILogger logger, string server, string reason);

    [LoggerMessage(300, LogLevel.Information, "Backplane: replica {ReplicaId} is subscribed on {Topology}")]
    public static partial void Topology(ILogger logger, string replicaId, string topology);

    [LoggerMessage(301, LogLevel.Warning, "Backplane: a Redis Cluster node was lost; refreshing the cluster's topology until a replica takes over its slots")]
    public static partial void TopologyRefresh(ILogger logger);

    [LoggerMessage(111, LogLevel.Error, "Backplane: delivering a message from another replica failed")]
    public static partial void DeliveryFailed(ILogger logger, Exception exception);
}
