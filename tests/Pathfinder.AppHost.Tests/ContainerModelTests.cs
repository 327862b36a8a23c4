using System.Globalization;
using System.Text.RegularExpressions;
using Pathfinder.GrafanaDev;
using YamlDotNet.RepresentationModel;

namespace Pathfinder.AppHost.Tests;

/// <summary>
/// The model with containers ON (the path this machine cannot run): Redis and Grafana as containers, Grafana's
/// image, endpoint, environment, mounts and wait order, the generated provisioning file, PluginDir set or unset.
/// Built, never started.
/// </summary>
public sealed partial class ContainerModelTests
{
    private const string ProvisioningPlugins = "/etc/grafana/provisioning/plugins";
    private const string ProvisioningDatasources = "/etc/grafana/provisioning/datasources";
    private const string PluginMount = "/var/lib/grafana/plugins/grafana-pathfinder-app";

    [Fact]
    public async Task Redis_is_the_Aspire_Redis_container_and_the_replicas_wait_for_it()
    {
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=on", "--Pathfinder:PluginDir=");

        var redis = app.Get<ContainerResource>("redis");
        Assert.IsAssignableFrom<IResourceWithConnectionString>(redis);
        Assert.True(redis.TryGetContainerImageName(out var image) && image.Contains("redis", StringComparison.Ordinal), image);

        var signaling = app.Get<ProjectResource>("signaling");
        Assert.Equal(2, signaling.GetReplicaCount());
        Assert.Contains(("redis", WaitType.WaitUntilHealthy), AppModel.WaitsOf(signaling));
        Assert.Contains("redis", AppModel.ReferencesOf(signaling));
        var endpoint = signaling.Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "http");
        Assert.Equal(9000, endpoint.Port);
    }

    [Fact]
    public async Task Grafana_is_the_pinned_enterprise_image_on_port_3000_with_admin_login_and_api_health()
    {
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=on", "--Pathfinder:PluginDir=");
        var grafana = app.Get<ContainerResource>("grafana");

        var image = grafana.Annotations.OfType<ContainerImageAnnotation>().Single();
        Assert.Equal("grafana/grafana-enterprise", image.Image);
        Assert.Matches(@"^\d+\.\d+\.\d+$", image.Tag); // pinned: no "latest", no floating major
        var version = Version.Parse(image.Tag!);
        Assert.True(version >= new Version(12, 3), $"Grafana {image.Tag} < 12.3 (the plugin's grafanaDependency)");

        var http = grafana.Annotations.OfType<EndpointAnnotation>().Single();
        Assert.Equal(("http", 3000, 3000, "http"), (http.Name, http.Port, http.TargetPort, http.UriScheme));

        var health = Assert.Single(grafana.Annotations.OfType<HealthCheckAnnotation>());
        Assert.Contains("/api/health", health.Key, StringComparison.Ordinal);

        var env = await app.EnvironmentOfAsync(grafana);
        Assert.Equal("admin", env["GF_SECURITY_ADMIN_USER"]);
        Assert.Equal("admin", env["GF_SECURITY_ADMIN_PASSWORD"]);
        Assert.Equal("grafana-pathfinder-app", env["GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS"]);
        var toggles = ((string)env["GF_FEATURE_TOGGLES_ENABLE"]).Split(',');
        Assert.Contains("extensionSidebar", toggles);
        Assert.Contains("appSidecar", toggles);
        Assert.Contains("userStorageAPI", toggles);

        // Grafana starts after the signaling replicas are healthy.
        Assert.Contains(("signaling", WaitType.WaitUntilHealthy), AppModel.WaitsOf(grafana));
    }

    [Fact]
    public async Task Without_PluginDir_Grafana_mounts_only_the_datasources_and_dashboards_and_the_console_says_how_to_add_the_plugin()
    {
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=on", "--Pathfinder:PluginDir=");
        var grafana = app.Get<ContainerResource>("grafana");

        var mounts = AppModel.MountsOf(grafana);
        Assert.Equal(
            new[] { "/etc/grafana/provisioning/dashboards", ProvisioningDatasources, "/var/lib/grafana/dashboards" },
            mounts.Keys.Order(StringComparer.Ordinal));
        var datasources = mounts[ProvisioningDatasources];
        Assert.Equal(ProvisioningDatasources, datasources.Target);
        Assert.Equal(ContainerMountType.BindMount, datasources.Type);
        Assert.True(datasources.IsReadOnly);
        Assert.True(File.Exists(Path.Combine(datasources.Source!, "testdata.yaml")), datasources.Source);
        Assert.StartsWith(Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../Pathfinder.GrafanaDev")), datasources.Source!, StringComparison.Ordinal);

        Assert.DoesNotContain(app.Resources, r => r.Name.StartsWith("plugin-dev", StringComparison.Ordinal));
        Assert.DoesNotContain(AppModel.WaitsOf(grafana), w => w.Resource.StartsWith("plugin-dev", StringComparison.Ordinal));
        Assert.Contains(app.Notes, n => n.Contains("Pathfinder:PluginDir", StringComparison.Ordinal) && n.Contains("grafana-pathfinder-app checkout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_PluginDir_the_dev_build_runs_and_Grafana_mounts_dist_and_waits_for_it()
    {
        using var checkout = new PluginCheckout();
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=on", $"--Pathfinder:PluginDir={checkout.Root}");

        var install = app.Get<ExecutableResource>("plugin-dev-install");
        Assert.Equal("npm", Path.GetFileNameWithoutExtension(install.Command));
        Assert.Equal(checkout.Root, install.WorkingDirectory);
        Assert.Equal("ci", (await AppModel.ArgumentsOfAsync(install))[0]);

        var dev = app.Get<ExecutableResource>("plugin-dev");
        Assert.Equal("npm", Path.GetFileNameWithoutExtension(dev.Command));
        Assert.Equal(["run", "dev"], (await AppModel.ArgumentsOfAsync(dev)).Cast<string>());
        Assert.Contains(("plugin-dev-install", WaitType.WaitForCompletion), AppModel.WaitsOf(dev));
        Assert.Single(dev.Annotations.OfType<HealthCheckAnnotation>());

        var grafana = app.Get<ContainerResource>("grafana");
        var mounts = AppModel.MountsOf(grafana);
        Assert.Equal(checkout.Dist, mounts[PluginMount].Source);
        Assert.Equal(ContainerMountType.BindMount, mounts[PluginMount].Type);
        Assert.True(File.Exists(Path.Combine(mounts[ProvisioningPlugins].Source!, "grafana-pathfinder-app.yaml")));
        Assert.Contains(ProvisioningDatasources, mounts.Keys);

        var waits = AppModel.WaitsOf(grafana);
        Assert.Contains(("plugin-dev", WaitType.WaitUntilHealthy), waits);
        Assert.Contains(("signaling", WaitType.WaitUntilHealthy), waits);
        var toolsPresent = ExecutableLocator.Find("go") is not null && ExecutableLocator.Find("mage") is not null;
        Assert.Equal(toolsPresent, app.Has("plugin-dev-backend"));
        if (toolsPresent)
        {
            Assert.Contains(("plugin-dev-backend", WaitType.WaitForCompletion), waits);
        }
        else
        {
            Assert.Contains(app.Notes, n => n.Contains("mage -v build:linux", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task The_provisioning_file_gives_the_plugin_real_json_types()
    {
        using var checkout = new PluginCheckout();
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=on", $"--Pathfinder:PluginDir={checkout.Root}");
        var source = AppModel.MountsOf(app["grafana"])[ProvisioningPlugins].Source!;

        var root = LoadYaml(Path.Combine(source, "grafana-pathfinder-app.yaml"));
        Assert.Equal(1L, Typed(root, "apiVersion"));
        var apps = (YamlSequenceNode)root.Children[new YamlScalarNode("apps")];
        var plugin = (YamlMappingNode)Assert.Single(apps.Children);
        Assert.Equal("grafana-pathfinder-app", Typed(plugin, "type"));
        Assert.Equal(false, Typed(plugin, "disabled"));

        var jsonData = (YamlMappingNode)plugin.Children[new YamlScalarNode("jsonData")];
        Assert.Equal(true, Typed(jsonData, "enableLiveSessions"));
        Assert.Equal("localhost", Typed(jsonData, "peerjsHost"));
        Assert.Equal(9000L, Typed(jsonData, "peerjsPort"));
        Assert.Equal("pathfinder", Typed(jsonData, "peerjsKey"));
        Assert.Equal(false, Typed(jsonData, "peerjsSecure"));
        Assert.DoesNotContain("$", File.ReadAllText(Path.Combine(source, "grafana-pathfinder-app.yaml")), StringComparison.Ordinal);
    }

    [Fact]
    public void Strings_that_look_like_other_types_stay_strings()
    {
        var yaml = PluginAppProvisioning.Render(new PeerJsSettings("true", 443, "1234", Secure: true));
        var jsonData = (YamlMappingNode)((YamlMappingNode)((YamlSequenceNode)LoadYamlText(yaml).Children[new YamlScalarNode("apps")]).Children[0])
            .Children[new YamlScalarNode("jsonData")];
        Assert.Equal("true", Typed(jsonData, "peerjsHost"));
        Assert.Equal("1234", Typed(jsonData, "peerjsKey"));
        Assert.Equal(443L, Typed(jsonData, "peerjsPort"));
        Assert.Equal(true, Typed(jsonData, "peerjsSecure"));
    }

    [Fact]
    public async Task PluginDir_without_a_checkout_stops_the_AppHost_with_a_clear_message()
    {
        var empty = Directory.CreateTempSubdirectory("pathfinder-not-a-plugin-").FullName;
        try
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => AppModel.BuildAsync("--Pathfinder:Containers=on", $"--Pathfinder:PluginDir={empty}"));
            Assert.Contains("package.json", Flatten(error), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Fact]
    public async Task Dist_health_waits_for_plugin_json_module_js_and_the_backend_binary()
    {
        using var checkout = new PluginCheckout();
        var binary = PluginDevBuild.BackendBinaryName("gpx_grafana-pathfinder-app");
        var check = new PluginDistHealthCheck(checkout.Dist, ["plugin.json", "module.js", binary]);
        var context = new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext();

        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, (await check.CheckHealthAsync(context)).Status);
        Directory.CreateDirectory(checkout.Dist);
        File.WriteAllText(Path.Combine(checkout.Dist, "plugin.json"), "{}");
        File.WriteAllText(Path.Combine(checkout.Dist, "module.js"), "");
        var waiting = await check.CheckHealthAsync(context);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, waiting.Status);
        Assert.Contains(binary, waiting.Description, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(checkout.Dist, binary), "");
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, (await check.CheckHealthAsync(context)).Status);
    }

    private static YamlMappingNode LoadYaml(string path) => LoadYamlText(File.ReadAllText(path));

    private static YamlMappingNode LoadYamlText(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return (YamlMappingNode)Assert.Single(stream.Documents).RootNode;
    }

    /// <summary>
    /// The value a YAML 1.2 core-schema reader (Grafana's Go YAML) gives a scalar: quoted → string; plain
    /// true/false → bool, plain integer → number, anything else plain → string.
    /// </summary>
    private static object Typed(YamlMappingNode map, string key)
    {
        var node = (YamlScalarNode)map.Children[new YamlScalarNode(key)];
        if (node.Style is YamlDotNet.Core.ScalarStyle.Plain)
        {
            if (node.Value is "true" or "false")
            {
                return node.Value == "true";
            }

            if (Integer().IsMatch(node.Value!))
            {
                return long.Parse(node.Value!, CultureInfo.InvariantCulture);
            }
        }

        return node.Value!;
    }

    private static string Flatten(Exception error) =>
        error.InnerException is null ? error.Message : error.Message + " | " + Flatten(error.InnerException);

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex Integer();
}

/// <summary>With containers: Prometheus (OTLP receiver) fed by the replicas, and Grafana provisioned with its datasource and the dashboard.</summary>
public sealed class MetricsModelTests
{
    [Fact]
    public async Task Prometheus_receives_the_replicas_metrics_and_grafana_shows_the_dashboard()
    {
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=on", "--Pathfinder:PluginDir=");
        var prometheus = app.Get<ContainerResource>("prometheus");
        var image = prometheus.Annotations.OfType<ContainerImageAnnotation>().Single();
        Assert.Equal("prom/prometheus", image.Image);
        Assert.Matches(@"^v\d+\.\d+\.\d+$", image.Tag);
        Assert.Contains("--web.enable-otlp-receiver", (await AppModel.ArgumentsOfAsync(prometheus)).Select(a => a.ToString()));
        Assert.Contains("/etc/prometheus", AppModel.MountsOf(prometheus).Keys);

        var signaling = app.Get<ProjectResource>("signaling");
        var env = await app.EnvironmentOfAsync(signaling);
        var endpoint = Assert.IsType<ReferenceExpression>(env["PROMETHEUS_OTLP_ENDPOINT"]);
        Assert.EndsWith("/api/v1/otlp/v1/metrics", endpoint.Format, StringComparison.Ordinal);
        Assert.Contains(endpoint.ValueProviders, p => p is EndpointReference { Resource.Name: "prometheus" });
        Assert.Contains(("prometheus", WaitType.WaitUntilHealthy), AppModel.WaitsOf(signaling));

        var grafana = app.Get<ContainerResource>("grafana");
        var mounts = AppModel.MountsOf(grafana);
        Assert.Contains("/etc/grafana/provisioning/dashboards", mounts.Keys);
        Assert.True(File.Exists(Path.Combine(mounts["/var/lib/grafana/dashboards"].Source!, "pathfinder-signaling.json")));
        var datasources = mounts["/etc/grafana/provisioning/datasources"].Source!;
        var prometheusSource = File.ReadAllText(Path.Combine(datasources, "prometheus.yaml"));
        Assert.Contains("uid: prometheus", prometheusSource, StringComparison.Ordinal);
        Assert.Contains("url: http://prometheus:9090", prometheusSource, StringComparison.Ordinal);
        Assert.Contains(("prometheus", WaitType.WaitUntilHealthy), AppModel.WaitsOf(grafana));
    }

    [Fact]
    public async Task Without_containers_there_is_no_prometheus_and_no_prometheus_exporter()
    {
        await using var app = await AppModel.BuildAsync("--Pathfinder:Containers=off", "--Pathfinder:PluginDir=");
        Assert.False(app.Has("prometheus"));
        var env = await app.EnvironmentOfAsync(app.Get<ProjectResource>("signaling"));
        Assert.False(env.ContainsKey("PROMETHEUS_OTLP_ENDPOINT"));
    }
}
