using Microsoft.Extensions.Configuration;

// Local orchestration for Pathfinder: the PeerJS signaling service behind Aspire's proxy on a fixed port.
var builder = DistributedApplication.CreateBuilder(args);

// Browsers and PeerJS clients use http://localhost:9000/pathfinder; the proxy in front of the
// replicas spreads their connections. Each replica listens on a port of its own behind it.
const int SignalingPort = 9000;
var replicas = builder.Configuration.GetValue("Signaling:Replicas", 1);

// Scale-out (later): a local redis-server executable resource "redis" is added here, and the
// signaling replicas get .WithReference(redis).WaitFor(redis) to share their peer registry.

// No launch profile: Aspire gives each replica its port via ASPNETCORE_URLS, and the service
// runs in the AppHost's environment (Development under `dotnet run`).
builder.AddProject<Projects.Pathfinder_Signaling>("signaling", launchProfileName: null)
    .WithHttpEndpoint(port: SignalingPort, name: "http")
    .WithExternalHttpEndpoints()
    .WithHttpHealthCheck("/health")
    .WithEnvironment("ASPNETCORE_ENVIRONMENT", builder.Environment.EnvironmentName)
    .WithReplicas(replicas);

builder.Build().Run();
