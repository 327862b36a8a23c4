using System.Net;

namespace Pathfinder.AppHost.Tests;

/// <summary>The AppHost with <c>Pathfinder:Redis=garnet</c>: what a machine without containers and redis-server runs.</summary>
public sealed class RunningGarnetAppHost() : RunningAppHost(["--Pathfinder:Redis=garnet"]);

/// <summary>
/// The zero-install fallback started for real: Garnet (the tool manifest's garnet-server) as <c>redis</c>, two
/// signaling replicas sharing presence through it, reached through the proxy.
/// </summary>
public sealed class GarnetAppHostTests(RunningGarnetAppHost host) : IClassFixture<RunningGarnetAppHost>
{
    [Fact]
    public void Garnet_and_two_replicas_are_running_and_healthy()
    {
        var model = host.App.Services.GetRequiredService<DistributedApplicationModel>();
        Assert.IsType<GarnetServerResource>(model.Resources.Single(r => r.Name == "redis"));
        var visible = host.Latest.Values.Where(e => !e.Snapshot.IsHidden).ToList();
        Assert.Equal(["redis", "signaling"], visible.Select(e => e.Resource.Name).Distinct().Order(StringComparer.Ordinal));
        foreach (var state in visible)
        {
            Assert.True(RunningAppHost.IsRunningAndHealthy(state), $"{state.ResourceId}: {state.Snapshot.State?.Text} / {state.Snapshot.HealthStatus}");
        }

        Assert.Equal(RunningAppHost.ExpectedReplicas, visible.Count(e => e.Resource.Name == "signaling"));
        foreach (var replica in host.Replicas)
        {
            Assert.Matches(@"^(localhost|127\.0\.0\.1):\d+$", replica.Environment.GetValueOrDefault("ConnectionStrings__redis") ?? string.Empty);
        }
    }

    [Fact]
    public async Task Two_replicas_share_presence_on_Garnet()
    {
        var (first, second) = (host.Replicas[0], host.Replicas[1]);
        await using var presenter = await PeerClient.ConnectAsync(first.SocketUri, PeerClient.NewId("presenter"), token: "presenter");
        await using var attendee = await PeerClient.ConnectAsync(second.SocketUri, PeerClient.NewId("attendee"));
        await RunningAppHostTests.AssertSignalsAsync(presenter, attendee);

        // The presenter's id is taken on the other replica too: one registry, kept in Garnet.
        await using var intruder = await PeerClient.OpenAsync(second.SocketUri, presenter.Id, token: "intruder");
        Assert.Equal(["""{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"""], await intruder.WaitForCloseAsync());
    }

    [Fact]
    public async Task The_proxy_reaches_both_replicas()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 20 && seen.Count < RunningAppHost.ExpectedReplicas; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(host.Proxy, "/pathfinder"));
            request.Headers.ConnectionClose = true;
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            seen.Add(response.Headers.GetValues(Contract.ReplicaHeader).First());
        }

        Assert.Equal(RunningAppHost.ExpectedReplicas, seen.Count);
    }
}
