namespace Pathfinder.AppHost;

/// <summary>
/// What the signaling service gets in a deployment (the publishing manifest azd deploys), as opposed to the dev
/// environment: Production, the key as a secret parameter, the platform ingress as a trusted proxy, and the replica
/// count written into the manifest.
/// </summary>
internal static class DeploymentExtensions
{
    /// <summary>Private address ranges a platform ingress (Azure Container Apps' envoy) reaches the replicas from.</summary>
    public const string IngressProxies = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10";

    public static IResourceBuilder<ProjectResource> WithDeploymentSettings(
        this IResourceBuilder<ProjectResource> signaling, IDistributedApplicationBuilder builder, int replicas)
    {
        // The key: a secret parameter without a default (azd asks for it once and keeps it in its environment).
        var peerJsKey = builder.AddParameter("peerjs-key", secret: true);
        return signaling
            // A deployment always runs in Production (the key guard, rate limits), whatever profile made the manifest.
            .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Production")
            .WithEnvironment("PEERJS_KEY", peerJsKey)
            // Trust the ingress' X-Forwarded-For, so per-IP limits and logs see the real client.
            .WithEnvironment("KNOWN_PROXIES", IngressProxies)
            // Aspire's manifest writer leaves WithReplicas out (dotnet/aspire#2629): the project entry plus "replicas".
            .WithManifestPublishingCallback(async context =>
            {
                var resource = signaling.Resource;
                context.Writer.WriteString("type", "project.v0");
                context.Writer.WriteString("path", context.GetManifestRelativePath(resource.GetProjectMetadata().ProjectPath));
                await context.WriteCommandLineArgumentsAsync(resource).ConfigureAwait(false);
                await context.WriteEnvironmentVariablesAsync(resource).ConfigureAwait(false);
                context.WriteBindings(resource);
                context.Writer.WriteNumber("replicas", replicas);
            });
    }
}
