using Microsoft.Extensions.Configuration;

namespace Pathfinder.AppHost;

/// <summary>Where the signaling replicas keep presence: what runs as <c>redis</c>, or nothing (one in-memory replica).</summary>
public enum RedisBackendKind
{
    Container,
    RedisServer,
    Garnet,
    InMemory,
}

/// <summary>
/// The Redis backend of this run and why. <c>Pathfinder:Redis</c> (env <c>Pathfinder__Redis</c>) = auto | container |
/// redis-server | garnet | in-memory. Auto takes the first that works: the Redis container (a container runtime
/// answers), a local redis-server (on PATH or <c>Pathfinder:RedisServer</c>), Garnet (the <c>garnet-server</c> .NET
/// tool of the repository's tool manifest, restored from NuGet on first use, or <c>Pathfinder:GarnetServer</c>), else
/// one in-memory replica. A forced backend that cannot run is an error that says why.
/// </summary>
/// <param name="Kind">The backend.</param>
/// <param name="Reason">Why this one, for the console.</param>
/// <param name="Program">redis-server's path, or how Garnet is started; null for the container and in-memory.</param>
public sealed record RedisBackend(RedisBackendKind Kind, string Reason, string? Program = null, GarnetLaunch? Garnet = null)
{
    public const string ConfigKey = "Pathfinder:Redis";

    /// <summary>Config key for the redis-server program (default: redis-server on PATH).</summary>
    public const string RedisServerConfigKey = "Pathfinder:RedisServer";

    /// <summary>The accepted values of <see cref="ConfigKey"/>.</summary>
    public static readonly IReadOnlyList<string> Modes = ["auto", "container", "redis-server", "garnet", "in-memory"];

    /// <summary>
    /// Applies <see cref="ConfigKey"/>. <paramref name="findProgram"/> finds a program (PATH or an absolute path),
    /// <paramref name="garnet"/> prepares Garnet and says whether it can run (it may restore the tool from NuGet).
    /// </summary>
    public static RedisBackend Choose(
        IConfiguration configuration, ContainerSupport containers, Func<string, string?> findProgram, Func<GarnetLaunch.Availability> garnet)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(containers);
        ArgumentNullException.ThrowIfNull(findProgram);
        ArgumentNullException.ThrowIfNull(garnet);
        var mode = (configuration[ConfigKey] ?? "auto").Trim().ToLowerInvariant();
        var configuredRedis = configuration[RedisServerConfigKey];
        var redisName = string.IsNullOrWhiteSpace(configuredRedis) ? "redis-server" : configuredRedis;
        var redisWhere = string.IsNullOrWhiteSpace(configuredRedis) ? "on PATH" : $"at {RedisServerConfigKey}={configuredRedis}";
        switch (mode)
        {
            case "container":
                return containers.Usable
                    ? new(RedisBackendKind.Container, $"{ConfigKey}=container")
                    : throw Forced("container", $"containers are not usable ({containers.Reason}); set {ContainerSupport.ConfigKey}=on if a runtime does answer");
            case "redis-server":
                return findProgram(redisName) is { } forcedProgram
                    ? new(RedisBackendKind.RedisServer, $"{ConfigKey}=redis-server", forcedProgram)
                    : throw Forced("redis-server", $"no redis-server {redisWhere}");
            case "garnet":
                var forcedGarnet = garnet();
                return forcedGarnet.Launch is { } launch
                    ? new(RedisBackendKind.Garnet, $"{ConfigKey}=garnet", Garnet: launch)
                    : throw Forced("garnet", forcedGarnet.Problem);
            case "in-memory":
                return new(RedisBackendKind.InMemory, $"{ConfigKey}=in-memory");
            case "auto" or "":
                break;
            default:
                throw new DistributedApplicationException(
                    $"{ConfigKey} is '{configuration[ConfigKey]}': use {string.Join(", ", Modes)}.");
        }

        if (containers.Usable)
        {
            return new(RedisBackendKind.Container, $"containers are usable ({containers.Reason})");
        }

        var why = $"containers are not used ({containers.Reason})";
        if (findProgram(redisName) is { } program)
        {
            return new(RedisBackendKind.RedisServer, why, program);
        }

        why += $" and there is no redis-server {redisWhere}";
        var available = garnet();
        if (available.Launch is { } found)
        {
            return new(RedisBackendKind.Garnet, why, Garnet: found);
        }

        return new(RedisBackendKind.InMemory, $"{why}, and Garnet cannot run: {available.Problem}");
    }

    private static DistributedApplicationException Forced(string mode, string problem) =>
        new($"{ConfigKey}={mode}, but {problem}. Use {ConfigKey}=auto to take the first backend that runs here.");
}
