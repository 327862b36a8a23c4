using System.Reflection;

namespace Pathfinder.GrafanaDev;

/// <summary>AppHost wiring for the dev Grafana and the plugin's dev build.</summary>
public static class GrafanaBuilderExtensions
{
    /// <summary>
    /// Adds the plugin dev build when <c>Pathfinder:PluginDir</c> is set (see <see cref="PluginDevBuild"/>); null otherwise.
    /// </summary>
    public static PluginDevBuild? AddPathfinderPluginDevBuild(this IDistributedApplicationBuilder builder) =>
        PluginDevBuild.AddFromConfiguration(builder);

    /// <summary>
    /// Adds Grafana (pinned grafana-enterprise image) on http://localhost:3000, admin/admin, with the TestData source
    /// from this project's grafana/provisioning and, when <paramref name="plugin"/> is given, its dist/ mounted as
    /// grafana-pathfinder-app, the app provisioned with live sessions pointing at <paramref name="peerJs"/>, and the
    /// start held until dist/ is complete. Only call this when a container runtime is usable.
    /// </summary>
    public static IResourceBuilder<ContainerResource> AddPathfinderGrafana(
        this IDistributedApplicationBuilder builder,
        PeerJsSettings peerJs,
        PluginDevBuild? plugin)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(peerJs);
        var provisioning = GrafanaDevDefaults.ContainerProvisioningDirectory;
        var grafana = builder.AddContainer(GrafanaDevDefaults.GrafanaResourceName, GrafanaDevDefaults.GrafanaImage, GrafanaDevDefaults.GrafanaImageTag)
            .WithHttpEndpoint(port: GrafanaDevDefaults.GrafanaPort, targetPort: GrafanaDevDefaults.GrafanaPort, name: "http")
            .WithUrlForEndpoint("http", url => url.DisplayText = "Grafana (admin/admin)")
            .WithHttpHealthCheck("/api/health")
            .WithEnvironment("GF_SECURITY_ADMIN_USER", GrafanaDevDefaults.AdminUser)
            .WithEnvironment("GF_SECURITY_ADMIN_PASSWORD", GrafanaDevDefaults.AdminPassword)
            .WithEnvironment("GF_AUTH_ANONYMOUS_ENABLED", "false")
            .WithEnvironment("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS", GrafanaDevDefaults.PluginId)
            .WithEnvironment("GF_FEATURE_TOGGLES_ENABLE", GrafanaDevDefaults.FeatureToggles)
            .WithEnvironment("GF_LOG_FILTERS", $"plugin.{GrafanaDevDefaults.PluginId}:debug")
            .WithBindMount(Path.Combine(AssetsDirectory, "provisioning", "datasources"), $"{provisioning}/datasources", isReadOnly: true);

        var notes = StartupNotes.For(builder);
        if (plugin is null)
        {
            notes.Info($"Grafana: http://localhost:{GrafanaDevDefaults.GrafanaPort} (admin/admin), without the Pathfinder plugin.");
            return grafana;
        }

        var generated = Path.Combine(builder.AppHostDirectory, "obj", "grafana-dev", "provisioning");
        var pluginsProvisioning = PluginAppProvisioning.Write(generated, peerJs);
        grafana
            .WithBindMount(plugin.DistDirectory, $"{GrafanaDevDefaults.ContainerPluginsDirectory}/{GrafanaDevDefaults.PluginId}", isReadOnly: true)
            .WithBindMount(pluginsProvisioning, $"{provisioning}/plugins", isReadOnly: true)
            .WaitFor(plugin.Dev);
        if (plugin.Backend is not null)
        {
            grafana.WaitForCompletion(plugin.Backend);
        }

        notes.Info(
            $"Grafana: http://localhost:{GrafanaDevDefaults.GrafanaPort} (admin/admin) with {GrafanaDevDefaults.PluginId} from {plugin.DistDirectory}, " +
            $"live sessions on {peerJs.ApiUri}.");
        return grafana;
    }

    /// <summary>This project's grafana/ folder in the source tree (bind-mounted, so it must be a real directory).</summary>
    public static string AssetsDirectory { get; } =
        typeof(GrafanaBuilderExtensions).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "Pathfinder.GrafanaDev.AssetsDirectory").Value!;
}
