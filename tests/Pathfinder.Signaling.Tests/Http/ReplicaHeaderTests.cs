namespace Pathfinder.Signaling.Tests;

public sealed class ReplicaHeaderTests
{
    [Fact]
    public async Task Every_response_and_the_websocket_upgrade_name_the_replica()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:Cluster:ReplicaId"] = "replica-7" });
        using var http = new HttpClient();
        foreach (var path in new[] { "/pathfinder", "/pathfinder/pathfinder/id", "/pathfinder/nope/peers", "/health", "/alive" })
        {
            using var response = await http.GetAsync(new Uri(host.HttpBase, path));
            Assert.Equal("replica-7", Assert.Single(response.Headers.GetValues("X-Pathfinder-Replica")));
        }

        await using var peer = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), configure: o => o.CollectHttpResponseDetails = true);
        Assert.Equal("replica-7", Assert.Single(peer.Socket.HttpResponseHeaders!["X-Pathfinder-Replica"]));
    }

    [Fact]
    public async Task Without_a_configured_id_each_process_gets_its_own()
    {
        await using var one = await SignalingTestHost.StartAsync();
        await using var two = await SignalingTestHost.StartAsync();
        using var http = new HttpClient();
        var first = (await http.GetAsync(new Uri(one.HttpBase, "/pathfinder"))).Headers.GetValues("X-Pathfinder-Replica").Single();
        var again = (await http.GetAsync(new Uri(one.HttpBase, "/health"))).Headers.GetValues("X-Pathfinder-Replica").Single();
        var second = (await http.GetAsync(new Uri(two.HttpBase, "/pathfinder"))).Headers.GetValues("X-Pathfinder-Replica").Single();
        Assert.Equal(first, again);
        Assert.NotEqual(first, second);
    }
}
