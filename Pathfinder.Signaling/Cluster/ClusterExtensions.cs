using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Routing;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

public static class ClusterExtensions
{
    /// <summary>The connection name Aspire's WithReference(redis) provides: ConnectionStrings:redis.</summary>
    public const string ConnectionName = "redis";

    public static bool HasCluster(this IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration.GetConnectionString(ConnectionName));

    /// <summary>
    /// Replaces the in-memory directory with the Redis one. The client never blocks start-up on Redis and fails
    /// fast while disconnected (the outage policy in <see cref="RedisPeerDirectory"/> takes over); the backplane's health
    /// check (every primary answers PING, this replica subscribed) is part of readiness (/health). Its settings
    /// (<see cref="ClusterOptions"/>) are loaded and checked with the others, in AddSignaling.
    /// </summary>
    public static WebApplicationBuilder AddSignalingCluster(this WebApplicationBuilder builder)
    {
        // A span per Redis command would be one per relay; the service traces relays itself. Opt back in with
        // Aspire:StackExchange:Redis:DisableTracing=false.
        var tracingConfigured = builder.Configuration["Aspire:StackExchange:Redis:DisableTracing"] is not null;
        builder.AddRedisClient(ConnectionName, configureSettings: settings =>
        {
            if (!tracingConfigured)
            {
                settings.DisableTracing = true;
            }

            // Aspire's Redis check asks a cluster node CLUSTER INFO, an admin command this client is not allowed
            // (it would report a healthy Redis Cluster as Unhealthy): BackplaneHealthCheck pings every primary instead.
            settings.DisableHealthChecks = true;
        }, configureOptions: options =>
        {
            options.AbortOnConnectFail = false;
            options.BacklogPolicy = BacklogPolicy.FailFast;
            options.ConnectTimeout = 2000;
            options.AsyncTimeout = 2000;
            options.SyncTimeout = 2000;
            options.ReconnectRetryPolicy = new LinearRetry(500);
            options.ClientName ??= "pathfinder-signaling";
        });

        var services = builder.Services;
        services.AddSingleton<RedisPeerDirectory>();
        services.AddSingleton<IPeerDirectory>(sp => sp.GetRequiredService<RedisPeerDirectory>());
        services.AddHostedService<PresenceLeaseService>();
        services.AddHealthChecks().AddCheck<BackplaneHealthCheck>("backplane");
        return builder;
    }
}
