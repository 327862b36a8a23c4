using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Pathfinder.GrafanaDev;

/// <summary>
/// Says on the AppHost console, once, when <c>npm ci</c> (plugin-dev-install) fails: plugin-dev waits for its
/// completion, so without this the console ends "Distributed application started" while nothing ever builds, and
/// only the dashboard shows why.
/// </summary>
public sealed class PluginInstallWatch(
    string resourceName,
    string checkout,
    int? nodeMajor,
    ResourceNotificationService notifications,
    ILoggerFactory loggers) : BackgroundService
{
    /// <summary>The console line for a failed install (exit code null: it did not start at all).</summary>
    public static string FailureMessage(string resourceName, string checkout, int? exitCode, int? nodeMajor)
    {
        var what = exitCode is null ? "could not start `npm ci` (is npm on PATH?)" : $"`npm ci` failed with exit code {exitCode}";
        var node = nodeMajor is null
            ? "use the Node version the plugin asks for"
            : $"use the Node version the plugin asks for (.nvmrc: {nodeMajor}; `nvm install {nodeMajor} && nvm use {nodeMajor}`)";
        return $"{resourceName}: {what} in {checkout}, so plugin-dev never builds and Grafana never starts. " +
            $"See why with `cd {checkout} && npm ci` (or the dashboard's console logs of {resourceName}). " +
            $"Fix: {node}, make sure package-lock.json matches package.json (`npm install` once), then restart the AppHost.";
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var update in notifications.WatchAsync(stoppingToken))
            {
                if (update.Resource.Name != resourceName)
                {
                    continue;
                }

                var state = update.Snapshot.State?.Text;
                var failed = state == KnownResourceStates.FailedToStart
                    || (state is not null && KnownResourceStates.TerminalStates.Contains(state) && update.Snapshot.ExitCode is not null and not 0);
                if (failed)
                {
                    var exitCode = state == KnownResourceStates.FailedToStart ? null : update.Snapshot.ExitCode;
#pragma warning disable CA2254 // A complete sentence written for this console.
                    loggers.CreateLogger("Pathfinder.AppHost").LogWarning(FailureMessage(resourceName, checkout, exitCode, nodeMajor));
#pragma warning restore CA2254
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
