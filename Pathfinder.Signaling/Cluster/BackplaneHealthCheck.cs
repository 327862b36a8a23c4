using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// Readiness of the backplane: Redis connected AND this replica listening on its channel. A replica that is connected
/// but not yet subscribed would accept peers that other replicas cannot reach.
/// </summary>
public sealed class BackplaneHealthCheck(IConnectionMultiplexer redis, RedisPeerDirectory directory) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(
            !redis.IsConnected ? HealthCheckResult.Unhealthy("Redis is not connected")
            : !directory.IsSubscribed ? HealthCheckResult.Unhealthy("not yet subscribed to this replica's channel")
            : HealthCheckResult.Healthy());
}
