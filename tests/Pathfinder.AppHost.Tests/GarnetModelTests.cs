using Microsoft.Extensions.Configuration;

namespace Pathfinder.AppHost.Tests;

/// <summary>
/// The Redis backend choice: container → redis-server → Garnet (the tool manifest's garnet-server) → in-memory, and
/// <c>Pathfinder:Redis</c> forcing each one.
/// </summary>
public sealed class GarnetModelTests
{
    private static readonly ContainerSupport NoContainers = new(false, "test: no runtime");
    private static readonly ContainerSupport Containers = new(true, "test: a runtime answers");
    private static readonly GarnetLaunch Tool = new("dotnet", ["tool", "run", "garnet-server", "--"], "/repo", "the tool");

    [Fact]
    public async Task Without_containers_and_redis_server_Garnet_runs_as_redis_with_lua_scripts_as_transactions_and_two_replicas_share_it()
    {
        await using var app = await AppModel.BuildAsync(
            "--Pathfinder:Containers=off", "--Pathfinder:PluginDir=", "--Pathfinder:RedisServer=/nonexistent/redis-server");

        var garnet = app.Get<GarnetServerResource>("redis");
        var args = await AppModel.ArgumentsOfAsync(garnet);
        Assert.Equal(["tool", "run", "garnet-server", "--", "--port"], args.Take(5).Cast<string>());
        var port = Assert.IsType<EndpointReferenceExpression>(args[5]);
        Assert.Equal(EndpointProperty.TargetPort, port.Property);
        Assert.Equal(["--bind", "127.0.0.1", "--lua", "true", "--lua-transaction-mode", "true"], args.Skip(6).Cast<string>());
        Assert.Equal("dotnet", Path.GetFileNameWithoutExtension(garnet.Command));
        Assert.True(File.Exists(Path.Combine(garnet.WorkingDirectory, "..", ".config", "dotnet-tools.json")), garnet.WorkingDirectory);
        Assert.Single(garnet.Annotations.OfType<HealthCheckAnnotation>());
        Assert.Equal("{redis.bindings.tcp.host}:{redis.bindings.tcp.port}", garnet.ConnectionStringExpression.ValueExpression);

        var signaling = app.Get<ProjectResource>("signaling");
        Assert.Equal(2, signaling.GetReplicaCount());
        Assert.Contains(("redis", WaitType.WaitUntilHealthy), AppModel.WaitsOf(signaling));
        Assert.Contains("redis", AppModel.ReferencesOf(signaling));
        Assert.Contains(app.Notes, n => n.StartsWith("Redis: Garnet", StringComparison.Ordinal) && n.Contains("no redis-server at Pathfinder:RedisServer=/nonexistent/redis-server", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_configured_garnet_server_is_started_directly()
    {
        var fake = typeof(GarnetModelTests).Assembly.Location; // any existing file stands in for the program
        await using var app = await AppModel.BuildAsync("--Pathfinder:Redis=garnet", "--Pathfinder:Containers=off", "--Pathfinder:PluginDir=", $"--Pathfinder:GarnetServer={fake}");
        var garnet = app.Get<GarnetServerResource>("redis");
        Assert.Equal(fake, garnet.Command);
        Assert.Equal("--port", (await AppModel.ArgumentsOfAsync(garnet))[0]);
    }

    [Theory]
    [InlineData("in-memory", "on")]
    [InlineData("in-memory", "off")]
    [InlineData("garnet", "on")]
    [InlineData("garnet", "off")]
    [InlineData("redis-server", "on")]
    [InlineData("container", "on")]
    public async Task Pathfinder_Redis_forces_each_backend(string backend, string containers)
    {
        await using var app = await AppModel.BuildAsync($"--Pathfinder:Redis={backend}", $"--Pathfinder:Containers={containers}", "--Pathfinder:PluginDir=");
        var signaling = app.Get<ProjectResource>("signaling");
        switch (backend)
        {
            case "in-memory":
                Assert.False(app.Has("redis"));
                Assert.Equal(1, signaling.GetReplicaCount());
                break;
            case "garnet":
                app.Get<GarnetServerResource>("redis");
                Assert.Equal(2, signaling.GetReplicaCount());
                break;
            case "redis-server":
                Assert.Equal("redis-server", Path.GetFileName(app.Get<RedisServerResource>("redis").Command));
                break;
            default:
                Assert.IsType<RedisResource>(app["redis"]);
                break;
        }

        Assert.Equal(containers == "on", app.Has("grafana"));
        Assert.Contains(app.Notes, n => n.StartsWith("Redis: ", StringComparison.Ordinal) && n.Contains($"Pathfinder:Redis={backend}", StringComparison.Ordinal));
    }

    [Fact]
    public void Auto_takes_the_first_backend_that_runs_here()
    {
        var asked = new List<string>();
        string? Find(string name)
        {
            asked.Add(name);
            return null;
        }

        GarnetLaunch.Availability Garnet()
        {
            asked.Add("garnet");
            return new(Tool, string.Empty);
        }

        Assert.Equal(RedisBackendKind.Container, RedisBackend.Choose(Config(), Containers, Find, Garnet).Kind);
        Assert.Empty(asked);

        var garnet = RedisBackend.Choose(Config(), NoContainers, Find, Garnet);
        Assert.Equal((RedisBackendKind.Garnet, Tool), (garnet.Kind, garnet.Garnet));
        Assert.Equal(["redis-server", "garnet"], asked);
        Assert.Contains("test: no runtime", garnet.Reason, StringComparison.Ordinal);
        Assert.Contains("no redis-server on PATH", garnet.Reason, StringComparison.Ordinal);

        var redisServer = RedisBackend.Choose(Config(), NoContainers, name => "/usr/bin/" + name, Garnet);
        Assert.Equal((RedisBackendKind.RedisServer, "/usr/bin/redis-server"), (redisServer.Kind, redisServer.Program));

        var none = RedisBackend.Choose(Config(), NoContainers, Find, () => new(null, "`dotnet tool restore` failed (exit 1): offline"));
        Assert.Equal(RedisBackendKind.InMemory, none.Kind);
        Assert.Contains("Garnet cannot run: `dotnet tool restore` failed (exit 1): offline", none.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("container")]
    [InlineData("redis-server")]
    [InlineData("garnet")]
    public void A_forced_backend_that_cannot_run_is_an_error_that_says_why(string backend)
    {
        var error = Assert.Throws<DistributedApplicationException>(() =>
            RedisBackend.Choose(Config(("Pathfinder:Redis", backend)), NoContainers, _ => null, () => new(null, "no garnet here")));
        Assert.Contains($"Pathfinder:Redis={backend}", error.Message, StringComparison.Ordinal);
        Assert.Contains(backend switch { "container" => "test: no runtime", "redis-server" => "no redis-server on PATH", _ => "no garnet here" }, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_backend_is_an_error_that_names_the_choices()
    {
        var error = Assert.Throws<DistributedApplicationException>(() =>
            RedisBackend.Choose(Config(("Pathfinder:Redis", "memcached")), Containers, _ => null, () => new(Tool, string.Empty)));
        Assert.Contains("memcached", error.Message, StringComparison.Ordinal);
        Assert.Contains("auto, container, redis-server, garnet, in-memory", error.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();
}
