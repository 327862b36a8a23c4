using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Pathfinder.GrafanaDev;

/// <summary>
/// Healthy once the plugin's dist/ holds every file Grafana needs to load it (plugin.json, module.js and the
/// backend binary). Grafana exits when a provisioned app plugin is missing, so it waits for this.
/// </summary>
public sealed class PluginDistHealthCheck(string distDirectory, IReadOnlyList<string> requiredFiles) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var missing = requiredFiles.Where(file => !File.Exists(Path.Combine(distDirectory, file))).ToList();
        return Task.FromResult(missing.Count == 0
            ? HealthCheckResult.Healthy($"{distDirectory} has {string.Join(", ", requiredFiles)}")
            : HealthCheckResult.Unhealthy($"waiting for {string.Join(", ", missing)} in {distDirectory}"));
    }
}
