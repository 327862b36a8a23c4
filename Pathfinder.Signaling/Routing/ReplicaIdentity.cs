namespace Pathfinder.Signaling.Routing;

/// <summary>
/// This process's name among the replicas: <c>Signaling:Cluster:ReplicaId</c> when configured, else a fresh random
/// id. The backplane addresses the replica by it, and every HTTP response carries it in
/// <see cref="HeaderName"/> so operators and tests can tell which replica answered behind a load balancer.
/// </summary>
public sealed class ReplicaIdentity(string? configured)
{
    public const string HeaderName = "X-Pathfinder-Replica";

    public string Id { get; } = string.IsNullOrWhiteSpace(configured) ? Guid.NewGuid().ToString("N")[..12] : configured.Trim();
}
