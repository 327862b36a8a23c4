namespace Pathfinder.Signaling.Cluster.Tests;

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
