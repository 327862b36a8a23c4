using Microsoft.Extensions.DependencyInjection;
using Pathfinder.GrafanaDev;

namespace Pathfinder.AppHost;

/// <summary>
/// Redis for the signaling cluster: the container, a local redis-server, Garnet, or none (see <see cref="RedisBackend"/>).
/// </summary>
public static class RedisBuilderExtensions
{
    /// <summary>Config key for the redis-server program (default: redis-server on PATH).</summary>
    public const string RedisServerConfigKey = RedisBackend.RedisServerConfigKey;

    /// <summary>
    /// The backend <see cref="RedisBackend.Choose"/> picks, as the resource <paramref name="name"/>; null for in-memory
    /// (the caller runs one replica). The console says which one runs and why.
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString>? AddPathfinderRedis(
        this IDistributedApplicationBuilder builder, string name, ContainerSupport containers)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(containers);
        var notes = StartupNotes.For(builder);
        string? Find(string program) => ExecutableLocator.Find(program, ExecutableLocator.SearchPath(builder.Configuration));
        // A published deployment (azd) always runs the Redis container, whatever this machine has.
        var backend = builder.ExecutionContext.IsPublishMode
            ? new RedisBackend(RedisBackendKind.Container, "publish mode")
            : RedisBackend.Choose(
            builder.Configuration,
            containers,
            Find,
            () => GarnetLaunch.Locate(builder.Configuration, builder.AppHostDirectory, Find));
        var grafana = containers.Usable ? "Grafana runs as a container" : "Grafana is not started (no containers)";
        var force = $"{RedisBackend.ConfigKey} = {string.Join(" | ", RedisBackend.Modes)} forces a backend.";
        switch (backend.Kind)
        {
            case RedisBackendKind.Container:
                notes.Info($"Redis: the Redis container — {backend.Reason}; {grafana}. {force}");
                return builder.AddRedis(name);
            case RedisBackendKind.RedisServer:
                notes.Info($"Redis: a local {backend.Program} — {backend.Reason}; {grafana}. {force}");
                return builder.AddRedisServer(name, backend.Program!);
            case RedisBackendKind.Garnet:
                notes.Info(
                    $"Redis: Garnet, {backend.Garnet!.Description} — {backend.Reason}; {grafana}. The replicas share presence " +
                    $"through it (classic pub/sub; it has no sharded pub/sub outside cluster mode). {force}");
                return builder.AddGarnetServer(name, backend.Garnet);
            default:
                notes.Warn(
                    $"Redis: none — {backend.Reason}: running ONE signaling replica with its in-memory registry. For the " +
                    "Redis-backed cluster install redis-server (Debian/Ubuntu: `sudo apt-get install -y redis-server`, macOS: " +
                    $"`brew install redis`) or a container runtime, or let Garnet run (`dotnet tool restore`), then run again. {force}");
                return null;
        }
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

        var healthKey = builder.AddPingHealthCheck(redis);
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

    /// <summary>
    /// Garnet on a loopback port (Aspire's target port), Lua on, health-checked (PING) so that <c>WaitFor(redis)</c>
    /// waits until it answers.
    /// </summary>
    public static IResourceBuilder<GarnetServerResource> AddGarnetServer(
        this IDistributedApplicationBuilder builder, string name, GarnetLaunch launch)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(launch);
        var garnet = new GarnetServerResource(name, launch);
        var healthKey = builder.AddPingHealthCheck(garnet);
        return builder.AddResource(garnet)
            .WithEndpoint(name: GarnetServerResource.PrimaryEndpointName, scheme: "tcp")
            .WithArgs(context =>
            {
                foreach (var argument in launch.Prefix)
                {
                    context.Args.Add(argument);
                }

                context.Args.Add("--port");
                context.Args.Add(garnet.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
                foreach (var argument in GarnetLaunch.ServerArguments)
                {
                    context.Args.Add(argument);
                }
            })
            .WithHealthCheck(healthKey);
    }

    /// <summary>
    /// The same Redis health check Aspire.Hosting.Redis registers for its container (AspNetCore.HealthChecks.Redis:
    /// connect and PING), against <paramref name="server"/>'s connection string once its endpoint is allocated.
    /// </summary>
    private static string AddPingHealthCheck(this IDistributedApplicationBuilder builder, IResourceWithConnectionString server)
    {
        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(server, async (_, ct) =>
            connectionString = await server.ConnectionStringExpression.GetValueAsync(ct).ConfigureAwait(false));
        var healthKey = $"{server.Name}_check";
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException($"the endpoint of '{server.Name}' is not allocated yet"),
            name: healthKey);
        return healthKey;
    }

    /// <summary>Points <paramref name="service"/> at Redis and holds its start until Redis answers PING.</summary>
    public static IResourceBuilder<T> WithPathfinderRedis<T>(
        this IResourceBuilder<T> service, IResourceBuilder<IResourceWithConnectionString>? redis)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport =>
        redis is null ? service : service.WithReference(redis).WaitFor(redis);
}
