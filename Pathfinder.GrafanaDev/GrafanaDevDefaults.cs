namespace Pathfinder.GrafanaDev;

/// <summary>
/// Fixed names for the local Grafana used while developing the Pathfinder app plugin.
/// </summary>
public static class GrafanaDevDefaults
{
    /// <summary>The Grafana app plugin id (plugin.json <c>id</c>).</summary>
    public const string PluginId = "grafana-pathfinder-app";

    /// <summary>The Grafana image used when a container runtime is available.</summary>
    public const string GrafanaImage = "grafana/grafana-enterprise";

    /// <summary>The pinned Grafana image tag (the plugin needs Grafana 12.3 or newer).</summary>
    public const string GrafanaImageTag = "12.3.0";

    /// <summary>The Grafana resource's name in the Aspire model and dashboard.</summary>
    public const string GrafanaResourceName = "grafana";

    /// <summary>The host port browsers use: http://localhost:3000.</summary>
    public const int GrafanaPort = 3000;

    /// <summary>Dev login (the plugin's dev setup logs in as admin/admin).</summary>
    public const string AdminUser = "admin";

    /// <summary>Dev password; this Grafana is reachable on the developer's machine only.</summary>
    public const string AdminPassword = "admin";

    /// <summary>The feature toggles the plugin's own dev environment enables (sidebar, user storage).</summary>
    public const string FeatureToggles = "appSidecar,extensionSidebar,localizationForPlugins,userStorageAPI";

    /// <summary>Where Grafana loads plugins from inside the container.</summary>
    public const string ContainerPluginsDirectory = "/var/lib/grafana/plugins";

    /// <summary>Grafana's provisioning root inside the container.</summary>
    public const string ContainerProvisioningDirectory = "/etc/grafana/provisioning";

    /// <summary>The prefix of every plugin dev build resource (plugin-dev, plugin-dev-install, plugin-dev-backend).</summary>
    public const string PluginDevResourceName = "plugin-dev";

    /// <summary>The Prometheus image (OTLP receiver) that stores the signaling metrics for the dashboards.</summary>
    public const string PrometheusImage = "prom/prometheus";

    /// <summary>The pinned Prometheus tag (3.x: the OTLP receiver is built in).</summary>
    public const string PrometheusImageTag = "v3.5.0";

    /// <summary>The Prometheus resource's name (Grafana's datasource reaches it as http://prometheus:9090).</summary>
    public const string PrometheusResourceName = "prometheus";

    /// <summary>Prometheus' port inside its container.</summary>
    public const int PrometheusPort = 9090;

    /// <summary>Where Grafana's file provider reads the provisioned dashboards from.</summary>
    public const string ContainerDashboardsDirectory = "/var/lib/grafana/dashboards";

    /// <summary>The configuration key naming a grafana-pathfinder-app checkout (env: Pathfinder__PluginDir).</summary>
    public const string PluginDirConfigKey = "Pathfinder:PluginDir";
}
