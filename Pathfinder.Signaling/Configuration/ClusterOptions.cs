namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// Scale-out settings (configuration section <c>Signaling:Cluster</c>), used when a <c>redis</c> connection string
/// is configured (<c>ConnectionStrings:redis</c>, as Aspire's WithReference provides it).
/// </summary>
public sealed class ClusterOptions
{
    public const string SectionName = "Signaling:Cluster";

    /// <summary>
    /// Lifetime of a peer's presence lease in Redis (ms). The owning replica renews it every third of this; when a
    /// replica dies without cleanup, its peers' ids become claimable by others after at most this long (their owners,
    /// with the same token, can reclaim them at once).
    /// </summary>
    public int LeaseMilliseconds { get; set; } = 15_000;

    /// <summary>Prefix of every Redis key and channel, so several clusters can share one Redis.</summary>
    public string KeyPrefix { get; set; } = "pathfinder";

    /// <summary>This replica's id on the backplane; a fresh random id per process when empty.</summary>
    public string? ReplicaId { get; set; }
}
