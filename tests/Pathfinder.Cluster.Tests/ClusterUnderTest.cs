using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>
/// N replicas that must behave as one PeerJS server. For the in-memory default there is one replica, and every
/// replica index names it: the same contract then checks that one replica behaves identically.
/// </summary>
public sealed class ClusterUnderTest : IAsyncDisposable
{
    private readonly List<SignalingTestHost> _replicas;

    private ClusterUnderTest(List<SignalingTestHost> replicas, FakeTimeProvider time)
    {
        _replicas = replicas;
        Time = time;
    }

    public FakeTimeProvider Time { get; }

    public int Count => _replicas.Count;

    public SignalingTestHost this[int index] => _replicas[index % _replicas.Count];

    public Uri Socket(int replica) => this[replica].SocketUri;

    public IEnumerable<SignalingTestHost> Replicas => _replicas;

    /// <summary>Runs the expiry sweep on every replica (as their timers would) and returns the EXPIREs produced.</summary>
    public async Task<int> SweepExpiredAsync()
    {
        var total = 0;
        foreach (var replica in _replicas)
        {
            total += await replica.Services.GetRequiredService<PeerRouter>().SweepExpiredAsync(CancellationToken.None);
        }

        return total;
    }

    public static async Task<ClusterUnderTest> StartAsync(int replicas, string? redis, IDictionary<string, string?>? settings = null)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..10];
        var hosts = new List<SignalingTestHost>();
        try
        {
            for (var i = 0; i < replicas; i++)
            {
                var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
                {
                    // Sweeps run when the test calls them; time is the shared fake clock.
                    ["Signaling:CleanupOutMsgs"] = "864000000",
                    ["Signaling:LivenessCheckInterval"] = "864000000",
                    ["Signaling:Cluster:KeyPrefix"] = prefix,
                };
                if (redis is not null)
                {
                    values["ConnectionStrings:redis"] = redis;
                }

                foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
                {
                    values[key] = value;
                }

                hosts.Add(await SignalingTestHost.StartAsync(values, services => services.AddSingleton<TimeProvider>(time)));
            }

            return new ClusterUnderTest(hosts, time);
        }
        catch
        {
            await Teardown.DisposeAllAsync(hosts);
            throw;
        }
    }

    public async ValueTask DisposeAsync() => await Teardown.DisposeAllAsync(_replicas);
}

/// <summary>One redis-server shared by the tests of a class; each cluster uses its own key prefix.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
