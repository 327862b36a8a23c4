using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Pathfinder.GrafanaDev;

/// <summary>
/// The dev build of a grafana-pathfinder-app checkout: <c>npm ci</c> (plugin-dev-install), then
/// <c>npm run dev</c> in watch mode (plugin-dev, healthy once dist/ is complete), and the Go backend
/// (plugin-dev-backend, <c>mage -v build:linux…</c>) when Go and mage are installed. What the checkout needs from
/// this machine (Node per .nvmrc, Go and mage) and a failing <c>npm ci</c> are said on the console
/// (<see cref="PluginToolchain"/>, <see cref="PluginInstallWatch"/>).
/// </summary>
public sealed class PluginDevBuild
{
    private PluginDevBuild(
        string checkout,
        string dist,
        IReadOnlyList<string> requiredFiles,
        IResourceBuilder<ExecutableResource> install,
        IResourceBuilder<ExecutableResource> dev,
        IResourceBuilder<ExecutableResource>? backend)
    {
        Checkout = checkout;
        DistDirectory = dist;
        RequiredFiles = requiredFiles;
        Install = install;
        Dev = dev;
        Backend = backend;
    }

    /// <summary>The plugin checkout (absolute).</summary>
    public string Checkout { get; }

    /// <summary>The build output Grafana mounts as its plugin folder.</summary>
    public string DistDirectory { get; }

    /// <summary>What dist/ must hold before Grafana may start.</summary>
    public IReadOnlyList<string> RequiredFiles { get; }

    /// <summary><c>npm ci</c>; runs to completion.</summary>
    public IResourceBuilder<ExecutableResource> Install { get; }

    /// <summary><c>npm run dev</c> (webpack watch); healthy when dist/ is complete.</summary>
    public IResourceBuilder<ExecutableResource> Dev { get; }

    /// <summary>The Go backend build, or null when Go or mage is not installed.</summary>
    public IResourceBuilder<ExecutableResource>? Backend { get; }

    /// <summary>The backend binary Grafana runs in a Linux container of this machine's architecture.</summary>
    public static string BackendBinaryName(string executable) =>
        $"{executable}_linux_{(RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "arm64" : "amd64")}";

    /// <summary>
    /// Adds the dev build when <c>Pathfinder:PluginDir</c> names a checkout; otherwise notes how to enable it and
    /// returns null.
    /// </summary>
    public static PluginDevBuild? AddFromConfiguration(IDistributedApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var notes = StartupNotes.For(builder);
        var configured = builder.Configuration[GrafanaDevDefaults.PluginDirConfigKey];
        if (string.IsNullOrWhiteSpace(configured))
        {
            notes.Info(
                "No plugin dev build: Grafana (when it runs) starts without the Pathfinder plugin. To build and mount it, " +
                "point Pathfinder:PluginDir at a grafana-pathfinder-app checkout, e.g. " +
                "`dotnet run --project Pathfinder.AppHost -- --Pathfinder:PluginDir=../grafana-pathfinder-app` " +
                "or `export Pathfinder__PluginDir=$HOME/src/grafana-pathfinder-app`.");
            return null;
        }

        var checkout = Path.GetFullPath(configured);
        if (!File.Exists(Path.Combine(checkout, "package.json")))
        {
            throw new DistributedApplicationException(
                $"Pathfinder:PluginDir is '{configured}', but {checkout} has no package.json: point it at a grafana-pathfinder-app checkout.");
        }

        var searchPath = ExecutableLocator.SearchPath(builder.Configuration);
        var nodeMajor = PluginToolchain.CheckNode(checkout, searchPath, notes);
        var (backendEvidence, executable) = ReadBackend(checkout);
        var hasBackend = backendEvidence is not null;
        var dist = Path.Combine(checkout, "dist");
        var backendBinary = BackendBinaryName(executable);
        List<string> required = hasBackend ? ["plugin.json", "module.js", backendBinary] : ["plugin.json", "module.js"];

        var npm = OperatingSystem.IsWindows() ? "npm.cmd" : "npm";
        var name = GrafanaDevDefaults.PluginDevResourceName;
        var install = builder.AddExecutable($"{name}-install", npm, checkout, "ci", "--no-audit", "--no-fund");
        builder.Services.AddHostedService(services => new PluginInstallWatch(
            install.Resource.Name,
            checkout,
            nodeMajor,
            services.GetRequiredService<ResourceNotificationService>(),
            services.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>()));

        var healthKey = $"{name}_dist";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            healthKey, _ => new PluginDistHealthCheck(dist, required), failureStatus: null, tags: null));
        var dev = builder.AddExecutable(name, npm, checkout, "run", "dev")
            .WaitForCompletion(install)
            .WithHealthCheck(healthKey);

        IResourceBuilder<ExecutableResource>? backend = null;
        if (hasBackend)
        {
            var missing = PluginToolchain.MissingBackendTools(checkout, backendEvidence!, backendBinary, searchPath);
            if (missing is null)
            {
                var mage = ExecutableLocator.Find("mage", searchPath)!;
                var target = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "build:linuxARM64" : "build:linux";
                backend = builder.AddExecutable($"{name}-backend", mage, checkout, "-v", target);
                notes.Info($"Plugin dev build from {checkout}: npm ci, npm run dev and mage -v {target}; Grafana waits for {string.Join(", ", required)} in dist/.");
            }
            else
            {
                notes.Warn(missing);
            }
        }
        else
        {
            notes.Info($"Plugin dev build from {checkout}: npm ci and npm run dev; Grafana waits for {string.Join(", ", required)} in dist/.");
        }

        return new PluginDevBuild(checkout, dist, required, install, dev, backend);
    }

    /// <summary>
    /// Whether the plugin has a Go backend, and what says so: src/plugin.json's <c>"backend": true</c>; without a
    /// readable plugin.json, a Magefile.go or go.mod in the checkout.
    /// </summary>
    private static (string? Evidence, string Executable) ReadBackend(string checkout)
    {
        var executable = $"gpx_{GrafanaDevDefaults.PluginId}";
        var path = Path.Combine(checkout, "src", "plugin.json");
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllText(path));
            var root = json.RootElement;
            if (root.TryGetProperty("executable", out var e) && e.ValueKind == JsonValueKind.String)
            {
                executable = e.GetString()!;
            }

            var backend = root.TryGetProperty("backend", out var b) && b.ValueKind == JsonValueKind.True;
            return (backend ? "src/plugin.json \"backend\": true" : null, executable);
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            var files = new[] { "Magefile.go", "go.mod" }.Where(f => File.Exists(Path.Combine(checkout, f))).ToList();
            return (files.Count > 0 ? string.Join(", ", files) : null, executable);
        }
    }
}
