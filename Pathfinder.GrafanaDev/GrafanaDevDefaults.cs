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

    /// <summary>The pinned Grafana image tag.</summary>
    public const string GrafanaImageTag = "12.3.0";
}
