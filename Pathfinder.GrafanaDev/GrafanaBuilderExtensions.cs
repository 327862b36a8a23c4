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
    /// Adds Prometheus (pinned image) with its OTLP receiver on: the signaling replicas push metrics to it (see
    /// <see cref="WithPrometheusMetrics"/>) and the provisioned Grafana datasource reads them. Containers only.
    /// </summary>
    public static IResourceBuilder<ContainerResource> AddPathfinderPrometheus(this IDistributedApplicationBuilder builder) =>
        builder.AddContainer(GrafanaDevDefaults.PrometheusResourceName, GrafanaDevDefaults.PrometheusImage, GrafanaDevDefaults.PrometheusImageTag)
            .WithBindMount(Path.Combine(AssetsDirectory, "prometheus"), "/etc/prometheus", isReadOnly: true)
            .WithArgs("--web.enable-otlp-receiver", "--config.file=/etc/prometheus/prometheus.yml")
            .WithHttpEndpoint(targetPort: GrafanaDevDefaults.PrometheusPort, name: "http")
            .WithHttpHealthCheck("/-/ready");

    /// <summary>
    /// Sends the project's metrics to Prometheus' OTLP receiver as well as to the Aspire dashboard
    /// (<c>PROMETHEUS_OTLP_ENDPOINT</c>, read by the service defaults).
    /// </summary>
    public static IResourceBuilder<T> WithPrometheusMetrics<T>(this IResourceBuilder<T> project, IResourceBuilder<ContainerResource> prometheus)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport
    {
        var endpoint = prometheus.GetEndpoint("http");
        return project
            .WithEnvironment("PROMETHEUS_OTLP_ENDPOINT", ReferenceExpression.Create($"{endpoint}/api/v1/otlp/v1/metrics"))
            .WaitFor(prometheus);
    }

    /// <summary>
    /// Adds Grafana (pinned grafana-enterprise image) on http://localhost:3000, admin/admin, with the TestData source
    /// from this project's grafana/provisioning and, when <paramref name="plugin"/> is given, its dist/ mounted as
    /// grafana-pathfinder-app, the app provisioned with live sessions pointing at <paramref name="peerJs"/>, and the
    /// start held until dist/ is complete. Only call this when a container runtime is usable.
    /// </summary>
    public static IResourceBuilder<ContainerResource> AddPathfinderGrafana(
        this IDistributedApplicationBuilder builder,
        PeerJsSettings peerJs,
        PluginDevBuild? plugin,
        IResourceBuilder<ContainerResource>? prometheus = null)
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
            .WithBindMount(Path.Combine(AssetsDirectory, "provisioning", "datasources"), $"{provisioning}/datasources", isReadOnly: true)
            // The signaling dashboard (Prometheus datasource uid "prometheus").
            .WithBindMount(Path.Combine(AssetsDirectory, "provisioning", "dashboards"), $"{provisioning}/dashboards", isReadOnly: true)
            .WithBindMount(Path.Combine(AssetsDirectory, "dashboards"), GrafanaDevDefaults.ContainerDashboardsDirectory, isReadOnly: true);
        if (prometheus is not null)
        {
            grafana.WaitFor(prometheus);
        }

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
