namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>
/// The backends the cluster contract (<see cref="ScaleOutContract"/>) runs on. Each server starts once, on first use,
/// for the whole test class, and every cluster on it uses its own key prefix. Adding a backend is one line in
/// <see cref="Servers"/>: its name, how to start it, and the replica counts to run with it.
/// </summary>
public sealed class Backends : IAsyncLifetime
{
    private static readonly Dictionary<string, (Func<Task<(string Connection, IAsyncDisposable Server)>> Start, int[] Replicas)> Servers = new()
    {
        ["redis"] = (async () => Started(await RedisServer.StartAsync(), s => s.ConnectionString), [2, 3]),
        ["redis-cluster"] = (async () => Started(await RedisClusterServer.StartAsync(primaries: 3, replicasPerPrimary: 1), c => c.ConnectionString), [3]),
        ["garnet"] = (async () => Started(await GarnetServer.StartAsync(), g => g.ConnectionString), [2]),
    };

    private readonly Dictionary<string, Task<(string Connection, IAsyncDisposable Server)>> _started = [];
    private readonly Lock _gate = new();

    /// <summary>Every target as <c>backend/replicas</c>; <c>memory/1</c> is the in-memory default.</summary>
    public static TheoryData<string> Targets
    {
        get
        {
            var targets = new TheoryData<string> { "memory/1" };
            foreach (var (name, (_, replicas)) in Servers)
            {
                foreach (var count in replicas)
                {
                    targets.Add($"{name}/{count}");
                }
            }

            return targets;
        }
    }

    /// <summary>One target per Redis backend (its largest replica count), for tests of what Redis holds.</summary>
    public static TheoryData<string> RedisTargets
    {
        get
        {
            var targets = new TheoryData<string>();
            foreach (var (name, (_, replicas)) in Servers)
            {
                targets.Add($"{name}/{replicas.Max()}");
            }

            return targets;
        }
    }

    /// <summary>Starts the replicas of <paramref name="target"/> (<c>backend/replicas</c>) on a fresh key prefix.</summary>
    public async Task<ClusterUnderTest> StartAsync(string target, IDictionary<string, string?>? settings = null)
    {
        var (name, count) = (target.Split('/')[0], int.Parse(target.Split('/')[1], System.Globalization.CultureInfo.InvariantCulture));
        return name == "memory"
            ? await ClusterUnderTest.StartAsync(count, redis: null, settings)
            : await ClusterUnderTest.StartAsync(count, await ConnectionAsync(target), settings);
    }

    /// <summary>The connection string of <paramref name="target"/>'s server (started on first use), for a look at what it holds.</summary>
    public async Task<string> ConnectionAsync(string target)
    {
        var name = target.Split('/')[0];
        Task<(string Connection, IAsyncDisposable Server)> server;
        lock (_gate)
        {
            if (!_started.TryGetValue(name, out server!))
            {
                server = _started[name] = Servers[name].Start();
            }
        }

        return (await server).Connection;
    }

    private static (string, IAsyncDisposable) Started<T>(T server, Func<T, string> connection)
        where T : IAsyncDisposable => (connection(server), server);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _started.Values)
        {
            try
            {
                await (await server).Server.DisposeAsync();
            }
            catch (InvalidOperationException)
            {
                // It never started: its test failed with the reason already.
            }
        }
    }
}
