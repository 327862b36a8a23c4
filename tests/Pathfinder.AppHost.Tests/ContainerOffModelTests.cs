using Microsoft.Extensions.Configuration;

namespace Pathfinder.AppHost.Tests;

/// <summary>The model without containers (redis-server or nothing), and the container decision itself.</summary>
public sealed class ContainerOffModelTests
{
    [Fact]
    public async Task Containers_off_runs_redis_server_on_its_target_port_without_persistence()
    {
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=off", "--Pathfinder:PluginDir=");

        var redis = app.Get<RedisServerResource>("redis");
        var args = await AppModel.ArgumentsOfAsync(redis);
        Assert.Equal("--port", args[0]);
        var port = Assert.IsType<EndpointReferenceExpression>(args[1]);
        Assert.Equal(EndpointProperty.TargetPort, port.Property);
        Assert.Equal(redis.PrimaryEndpoint.EndpointName, port.Endpoint.EndpointName);
        Assert.Equal(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], args.Skip(2).Cast<string>());
        Assert.Single(redis.Annotations.OfType<HealthCheckAnnotation>());
        Assert.Equal("{redis.bindings.tcp.host}:{redis.bindings.tcp.port}", redis.ConnectionStringExpression.ValueExpression);

        var signaling = app.Get<ProjectResource>("signaling");
        Assert.Equal(2, signaling.GetReplicaCount());
        Assert.Contains(("redis", WaitType.WaitUntilHealthy), AppModel.WaitsOf(signaling));
        Assert.Contains("redis", AppModel.ReferencesOf(signaling));
        Assert.False(app.Has("grafana"));
    }

    [Fact]
    public async Task Replicas_are_configurable()
    {
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=off", "--Pathfinder:PluginDir=", "--Signaling:Replicas=3");
        Assert.Equal(3, app["signaling"].GetReplicaCount());
    }

    [Fact]
    public async Task Without_containers_redis_server_and_garnet_one_in_memory_replica_runs_and_the_console_says_how_to_get_the_cluster()
    {
        await using var app = await AppModel.BuildAsync(
            "--Pathfinder:Containers=off", "--Pathfinder:PluginDir=", "--Pathfinder:RedisServer=/nonexistent/redis-server",
            "--Pathfinder:GarnetServer=/nonexistent/garnet-server");

        Assert.False(app.Has("redis"));
        var signaling = app.Get<ProjectResource>("signaling");
        Assert.Equal(1, signaling.GetReplicaCount());
        Assert.Empty(AppModel.WaitsOf(signaling));
        Assert.Empty(AppModel.ReferencesOf(signaling));
        Assert.DoesNotContain(app.Resources, r => r is IResourceWithConnectionString);
        Assert.Contains(app.Notes, n => n.Contains("ONE signaling replica", StringComparison.Ordinal) && n.Contains("apt-get install -y redis-server", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Signaling_keeps_the_plugins_default_address()
    {
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=off", "--Pathfinder:PluginDir=");
        var signaling = app.Get<ProjectResource>("signaling");
        var http = signaling.Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "http");
        Assert.Equal(9000, http.Port);
        Assert.True(http.IsProxied);
        Assert.True(http.IsExternal);
        Assert.Contains(signaling.Annotations.OfType<HealthCheckAnnotation>(), h => h.Key.Contains("/health", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("on", true)]
    [InlineData("ON", true)]
    [InlineData("off", false)]
    public void The_switch_forces_containers_without_probing(string mode, bool usable)
    {
        var probed = false;
        var decision = ContainerSupport.Detect(Config(("Pathfinder:Containers", mode)), _ => probed = true);
        Assert.Equal(usable, decision.Usable);
        Assert.False(probed);
    }

    [Fact]
    public void Auto_probes_docker_then_podman_and_points_Aspire_at_podman_when_only_it_answers()
    {
        var asked = new List<string>();
        var configuration = Config(("Pathfinder:Containers", "auto"));
        var decision = ContainerSupport.Detect(configuration, runtime => { asked.Add(runtime); return runtime == "podman"; });
        Assert.True(decision.Usable);
        Assert.Equal(["docker", "podman"], asked);
        Assert.Equal("podman", configuration["DcpPublisher:ContainerRuntime"]);

        asked.Clear();
        Assert.False(ContainerSupport.Detect(Config(), runtime => { asked.Add(runtime); return false; }).Usable);
        Assert.Equal(["docker", "podman"], asked);

        asked.Clear();
        Assert.True(ContainerSupport.Detect(Config(("ASPIRE_CONTAINER_RUNTIME", "podman")), runtime => { asked.Add(runtime); return true; }).Usable);
        Assert.Equal(["podman"], asked);
    }

    [Fact]
    public void An_unknown_switch_value_is_an_error_that_names_the_choices()
    {
        var error = Assert.Throws<DistributedApplicationException>(() => ContainerSupport.Detect(Config(("Pathfinder:Containers", "maybe")), _ => true));
        Assert.Contains("auto", error.Message, StringComparison.Ordinal);
        Assert.Contains("maybe", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_real_probe_is_false_for_a_missing_runtime()
    {
        Assert.False(ContainerSupport.RuntimeAnswers("pathfinder-no-such-container-runtime"));
    }

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();
}

public sealed class DevEnvironmentModelTests
{
    [Fact]
    public async Task Behind_the_dev_proxy_every_client_shares_one_ip_so_there_is_no_per_ip_socket_cap()
    {
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=off", "--Pathfinder:PluginDir=");
        var env = await app.EnvironmentOfAsync(app.Get<ProjectResource>("signaling"));
        Assert.Equal("0", env["MAX_CONNECTIONS_PER_PEER"]);
    }
}
