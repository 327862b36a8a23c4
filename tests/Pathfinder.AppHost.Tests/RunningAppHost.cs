using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Pathfinder.AppHost.Tests;

/// <summary>
/// Pathfinder.AppHost started once for a test class through Aspire.Hosting.Testing, with containers off: the
/// real redis-server executable resource and two signaling replicas behind the proxy (a random port here).
/// Start to healthy takes 4–10 s and teardown ~12 s, so every test of the class shares it. A derived fixture adds
/// arguments (e.g. <c>--Pathfinder:Redis=garnet</c>).
/// </summary>
public class RunningAppHost : IAsyncLifetime
{
    public const int ExpectedReplicas = 2;

    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ResourceEvent> _latest = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopWatching = new();
    private IDistributedApplicationTestingBuilder? _builder;
    private DistributedApplication? _app;
    private Task? _watcher;
    private readonly string[] _extraArguments;

    public RunningAppHost()
        : this([])
    {
    }

    protected RunningAppHost(string[] extraArguments) => _extraArguments = extraArguments;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("not started");

    /// <summary>The signaling resource's endpoint: Aspire's proxy in front of the replicas (http://localhost:{port}).</summary>
    public Uri Proxy { get; private set; } = null!;

    /// <summary>Each replica's own endpoint, read from the port Aspire gave it (ASPNETCORE_URLS).</summary>
    public IReadOnlyList<Replica> Replicas { get; private set; } = [];

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(StartTimeout);
        var builder = _builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Pathfinder_AppHost>(
            ["--Pathfinder:Containers=off", "--Pathfinder:PluginDir=", $"--Signaling:Replicas={ExpectedReplicas}", .. _extraArguments],
            cts.Token);
        _app = await builder.BuildAsync(cts.Token);
        _watcher = WatchAsync(_app, _stopWatching.Token);
        await _app.StartAsync(cts.Token);

        await _app.ResourceNotifications.WaitForResourceHealthyAsync("redis", cts.Token);
        var replicas = await WaitForHealthyReplicasAsync("signaling", ExpectedReplicas, cts.Token);
        Replicas = replicas.Select(Replica.From).OrderBy(r => r.ResourceId, StringComparer.Ordinal).ToList();
        Proxy = _app.GetEndpoint("signaling", "http");
    }

    /// <summary>The latest snapshot of every resource instance (replicas separately), by DCP name.</summary>
    public IReadOnlyDictionary<string, ResourceEvent> Latest => _latest;

    public async Task DisposeAsync()
    {
        // Each step bounded (a stuck resource cannot hang the run); teardown takes ~12 s when all is well.
        await _stopWatching.CancelAsync();
        if (_watcher is not null)
        {
            await Teardown.BoundedAsync(() => _watcher);
        }

        if (_app is not null)
        {
            var app = _app;
            await Teardown.BoundedAsync(() => app.StopAsync(), StopTimeout);
            await Teardown.BoundedAsync(app.DisposeAsync, StopTimeout);
        }

        if (_builder is not null)
        {
            await Teardown.BoundedAsync(_builder.DisposeAsync, StopTimeout);
        }

        _stopWatching.Dispose();
    }

    private async Task WatchAsync(DistributedApplication app, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var update in app.ResourceNotifications.WatchAsync(cancellationToken))
            {
                _latest[update.ResourceId] = update;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The latest snapshot of every instance of <paramref name="resourceName"/> once all are running and healthy.</summary>
    public async Task<IReadOnlyList<ResourceEvent>> WaitForHealthyReplicasAsync(string resourceName, int count, CancellationToken cancellationToken)
    {
        var latest = new Dictionary<string, ResourceEvent>(StringComparer.Ordinal);
        await foreach (var update in App.ResourceNotifications.WatchAsync(cancellationToken))
        {
            if (update.Resource.Name != resourceName)
            {
                continue;
            }

            latest[update.ResourceId] = update;
            var healthy = latest.Values.Where(IsRunningAndHealthy).ToList();
            if (healthy.Count >= count)
            {
                return healthy;
            }
        }

        throw new OperationCanceledException($"{resourceName}: fewer than {count} healthy instances");
    }

    public static bool IsRunningAndHealthy(ResourceEvent update) =>
        update.Snapshot.State?.Text == KnownResourceStates.Running && update.Snapshot.HealthStatus == HealthStatus.Healthy;

    /// <summary>One signaling process: its DCP name and the endpoint it listens on itself.</summary>
    public sealed record Replica(string ResourceId, Uri HttpBase, IReadOnlyDictionary<string, string?> Environment)
    {
        /// <summary>ws://localhost:{port}/pathfinder/peerjs on this replica only.</summary>
        public Uri SocketUri => new($"ws://{HttpBase.Authority}/pathfinder/peerjs");

        public static Replica From(ResourceEvent update)
        {
            var environment = update.Snapshot.EnvironmentVariables
                .GroupBy(e => e.Name, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
            var urls = environment.GetValueOrDefault("ASPNETCORE_URLS")
                ?? throw new InvalidOperationException($"{update.ResourceId} has no ASPNETCORE_URLS in its environment");
            var http = urls.Split(';', StringSplitOptions.RemoveEmptyEntries)
                .Select(u => new Uri(u))
                .First(u => u.Scheme == Uri.UriSchemeHttp);
            return new Replica(update.ResourceId, new Uri($"http://{http.Authority}"), environment);
        }
    }
}
