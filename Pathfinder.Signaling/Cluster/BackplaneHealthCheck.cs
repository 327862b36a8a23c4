using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// Readiness of the backplane: every Redis primary answers PING (one primary, or each primary of a Redis Cluster —
/// a lost shard means ids and queues of its slots are unreachable) AND this replica listens on its channel. A replica
/// that is connected but not yet subscribed would accept peers that other replicas cannot reach.
/// </summary>
public sealed class BackplaneHealthCheck(IConnectionMultiplexer redis, RedisPeerDirectory directory) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!redis.IsConnected)
        {
            return HealthCheckResult.Unhealthy("Redis is not connected");
        }

        var primaries = redis.GetServers().Where(server => !server.IsReplica).ToList();
        if (primaries.Count == 0)
        {
            return HealthCheckResult.Unhealthy("no Redis primary is known");
        }

        foreach (var primary in primaries)
        {
            try
            {
                await primary.PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy($"Redis primary {primary.EndPoint} does not answer PING: {ex.Message}");
            }
        }

        return directory.IsSubscribed
            ? HealthCheckResult.Healthy($"{primaries.Count} Redis primar{(primaries.Count == 1 ? "y" : "ies")} answer PING")
            : HealthCheckResult.Unhealthy("not yet subscribed to this replica's channel");
    }
}
