using Microsoft.Extensions.DependencyInjection;
using Pathfinder.GrafanaDev;

namespace Pathfinder.AppHost;

/// <summary>Redis for the signaling cluster: the container, else a local redis-server, else none.</summary>
public static class RedisBuilderExtensions
{
    /// <summary>Config key for the redis-server program (default: redis-server on PATH).</summary>
    public const string RedisServerConfigKey = "Pathfinder:RedisServer";

    /// <summary>
    /// The Redis container when containers are usable; otherwise a local redis-server when one is installed;
    /// otherwise null (the caller runs one in-memory replica) with a console note on how to get the cluster.
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString>? AddPathfinderRedis(
        this IDistributedApplicationBuilder builder, string name, ContainerSupport containers)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(containers);
        var notes = StartupNotes.For(builder);
        if (containers.Usable)
        {
            notes.Info($"Containers: usable ({containers.Reason}); Redis and Grafana run as containers.");
            return builder.AddRedis(name);
        }

        var configured = builder.Configuration[RedisServerConfigKey];
        var program = string.IsNullOrWhiteSpace(configured) ? ExecutableLocator.Find("redis-server") : ExecutableLocator.Find(configured);
        if (program is not null)
        {
            notes.Info($"Containers: not used ({containers.Reason}); Redis runs as a local {program}, Grafana is not started.");
            return builder.AddRedisServer(name, program);
        }

        notes.Warn(
            $"Containers: not used ({containers.Reason}) and no redis-server found ({(string.IsNullOrWhiteSpace(configured) ? "PATH" : configured)}): " +
            "running ONE signaling replica with its in-memory registry. For the Redis-backed cluster install redis-server " +
            "(Debian/Ubuntu: `sudo apt-get install -y redis-server`, macOS: `brew install redis`) or a container runtime, then run again.");
        return null;
    }

    /// <summary>
    /// A redis-server process on a free loopback port without persistence, health-checked (PING) so that
    /// <c>WaitFor(redis)</c> waits until it answers.
    /// </summary>
    public static IResourceBuilder<RedisServerResource> AddRedisServer(
        this IDistributedApplicationBuilder builder, string name, string program)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var redis = new RedisServerResource(name, program, Path.GetTempPath());

        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(redis, async (_, ct) =>
            connectionString = await redis.ConnectionStringExpression.GetValueAsync(ct).ConfigureAwait(false));
        var healthKey = $"{name}_check";
        // The same Redis health check Aspire.Hosting.Redis registers for its container (AspNetCore.HealthChecks.Redis).
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException($"the endpoint of '{name}' is not allocated yet"),
            name: healthKey);

        return builder.AddResource(redis)
            .WithEndpoint(name: RedisServerResource.PrimaryEndpointName, scheme: "tcp")
            .WithArgs(context =>
            {
                context.Args.Add("--port");
                context.Args.Add(redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
                context.Args.Add("--bind");
                context.Args.Add("127.0.0.1");
                context.Args.Add("--save");
                context.Args.Add(string.Empty);
                context.Args.Add("--appendonly");
                context.Args.Add("no");
            })
            .WithHealthCheck(healthKey);
    }

    /// <summary>Points <paramref name="service"/> at Redis and holds its start until Redis answers PING.</summary>
    public static IResourceBuilder<T> WithPathfinderRedis<T>(
        this IResourceBuilder<T> service, IResourceBuilder<IResourceWithConnectionString>? redis)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport =>
        redis is null ? service : service.WithReference(redis).WaitFor(redis);
}
