using Microsoft.Extensions.Configuration;
using Pathfinder.AppHost;
using Pathfinder.GrafanaDev;

// The Pathfinder dev environment: Redis, N signaling replicas behind one proxy, Grafana with the plugin.
var builder = DistributedApplication.CreateBuilder(args);

// Decided before any resource is added: a container resource without a runtime blocks the whole app. A published
// deployment (azd) always runs containers, whatever this machine has.
var publishing = builder.ExecutionContext.IsPublishMode;
var containers = publishing
    ? new ContainerSupport(true, "publish mode: the deployment target runs containers")
    : ContainerSupport.Detect(builder.Configuration);

// Redis: the container, else a local redis-server, else Garnet (the .NET tool), else none (one in-memory replica);
// Pathfinder:Redis forces one, and the console says which runs and why.
var redis = builder.AddPathfinderRedis("redis", containers);

// Browsers and the plugin use http://localhost:9000/pathfinder, key "pathfinder"; Aspire's proxy on 9000
// spreads connections over the replicas, each on a port of its own (ASPNETCORE_URLS).
var peerJs = PeerJsSettings.LocalDefault;
var replicas = redis is null ? 1 : builder.Configuration.GetValue("Signaling:Replicas", 2);
var signaling = builder.AddProject<Projects.Pathfinder_Signaling>("signaling", launchProfileName: null)
    .WithHttpEndpoint(port: peerJs.Port, name: "http")
    .WithExternalHttpEndpoints()
    .WithHttpHealthCheck("/health")
    .WithPathfinderRedis(redis)
    .WithReplicas(replicas);

if (publishing)
{
    signaling.WithDeploymentSettings(builder, replicas);
}
else
{
    // The dev environment: the AppHost's environment, the plugin's dev build (Pathfinder:PluginDir) and Grafana
    // (containers only) with the plugin provisioned — never part of a deployment.
    signaling.WithEnvironment("ASPNETCORE_ENVIRONMENT", builder.Environment.EnvironmentName)
        // Behind Aspire's proxy every browser shares one client IP: no per-IP socket cap in the dev environment.
        .WithEnvironment("MAX_CONNECTIONS_PER_PEER", "0")
        // The session lab (on in Development): a live session and a self-test through the replicas behind the proxy.
        .WithUrlForEndpoint("http", endpoint => new ResourceUrlAnnotation { Url = endpoint.Url + "/lab", DisplayText = "Session lab" });
    var plugin = builder.AddPathfinderPluginDevBuild();
    if (containers.Usable)
    {
        // Metrics into Prometheus (OTLP), shown by the provisioned "Pathfinder Signaling" Grafana dashboard.
        var prometheus = builder.AddPathfinderPrometheus();
        signaling.WithPrometheusMetrics(prometheus);
        builder.AddPathfinderGrafana(peerJs, plugin, prometheus).WaitFor(signaling);
    }
}

builder.Build().Run();
