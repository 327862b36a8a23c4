namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>One Garnet (the AppHost's zero-install Redis) shared by the tests of a class; each cluster uses its own key prefix.</summary>
public sealed class GarnetFixture : IAsyncLifetime
{
    public GarnetServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        Server = await GarnetServer.StartAsync(cts.Token);
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// The scale-out contract with Garnet in place of redis-server (<c>garnet-server --lua true</c>, standalone): the
/// scripts, classic pub/sub, the offline queues and the leases behave the same.
/// </summary>
public sealed class GarnetTwoReplicaTests(GarnetFixture garnet) : ScaleOutContract, IClassFixture<GarnetFixture>
{
    protected override Task<ClusterUnderTest> StartClusterAsync(IDictionary<string, string?>? settings = null) =>
        ClusterUnderTest.StartAsync(2, garnet.Server.ConnectionString, settings);
}

/// <summary>The helper itself: a port someone else holds is retried, never mistaken for Garnet.</summary>
public sealed class GarnetServerHelperTests
{
    [Fact]
    public async Task A_taken_port_is_retried_with_the_next_candidate()
    {
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start(); // listens and never answers PING: a server that is not Garnet
        var taken = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;
        var candidates = new Queue<int>([taken]);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        await using var garnet = await GarnetServer.StartAsync(() => candidates.Count > 0 ? candidates.Dequeue() : Ports.Candidate(), cts.Token);

        Assert.NotEqual(taken, garnet.Port);
        Assert.True(await RedisServer.PingAsync(garnet.Port));
    }
}
