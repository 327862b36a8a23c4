using System.Net;
using System.Net.WebSockets;
using System.Text.Json;

namespace Pathfinder.AppHost.Tests;

/// <summary>
/// The AppHost as `dotnet run` starts it on a machine without a container runtime: redis-server, two signaling
/// replicas behind one proxy, every resource healthy, and PeerJS clients on different replicas signalling each other.
/// </summary>
public sealed class RunningAppHostTests(RunningAppHost host, Pathfinder.Browser.Tests.BrowserFixture browser, ITestOutputHelper output)
    : IClassFixture<RunningAppHost>, IClassFixture<Pathfinder.Browser.Tests.BrowserFixture>
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Browser_pages_with_the_peerjs_client_connect_across_the_replicas(bool throughTheProxy)
    {
        // Through Aspire's proxy (what a browser at localhost:9000 uses), or pinned: presenter on one replica's
        // own port, attendee on the other's, so every signaling message crosses Redis.
        var presenterBase = throughTheProxy ? host.Proxy : host.Replicas[0].HttpBase;
        var attendeeBase = throughTheProxy ? host.Proxy : host.Replicas[1].HttpBase;
        var presenterId = $"presenter-{Guid.NewGuid():N}";

        await using var presenter = await Pathfinder.Browser.Tests.PeerPage.OpenAsync(browser, "presenter", output);
        await presenter.StartAsync(presenterBase, "/pathfinder", presenterId);
        Assert.Null((await presenter.WaitOpenOrErrorAsync()).Error);

        await using var attendee = await Pathfinder.Browser.Tests.PeerPage.OpenAsync(browser, "attendee", output);
        await attendee.StartAsync(attendeeBase, "/pathfinder", id: null);
        var attendeeOpen = await attendee.WaitOpenOrErrorAsync();
        Assert.Null(attendeeOpen.Error);

        await attendee.ConnectAsync(presenterId);
        Assert.Equal(presenterId, (await attendee.WaitOutgoingOpenAsync()).Peer);
        Assert.Equal(attendeeOpen.Id, (await presenter.WaitIncomingOpenAsync()).Peer);
        await attendee.SendAsync("hello over the AppHost");
        Assert.Equal("hello over the AppHost", (await presenter.WaitMessageAsync(0)).Data);
        await presenter.SendAsync("and back");
        Assert.Equal("and back", (await attendee.WaitMessageAsync(0)).Data);
    }

    [Fact]
    public async Task The_dashboard_links_the_session_lab_and_its_self_test_passes_through_the_proxy()
    {
        // The link the dashboard shows on the signaling replicas (URLs are published once endpoints are allocated).
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var replica = await host.App.ResourceNotifications.WaitForResourceAsync("signaling", e => IsLabLink(e.Snapshot.Urls), wait.Token);
        var links = replica.Snapshot.Urls.Where(u => IsLabLink([u])).Select(u => u.Url).ToList();
        Assert.All(links, link => Assert.Equal(new Uri(host.Proxy, "/lab"), new Uri(link)));

        // What an operator does behind a proxy: open the lab through it and run the self-test.
        await using var lab = await Pathfinder.Browser.Tests.LabPage.OpenAsync(browser, host.Proxy, "lab via the proxy", output);
        await lab.ClickAsync("selftest");
        var result = (await lab.WaitForAsync("s.selfTest && s.selfTest.steps", "the self-test's result")).GetProperty("selfTest");
        output.WriteLine(result.ToString());
        Assert.True(result.GetProperty("pass").GetBoolean(), result.ToString());
        Assert.NotEqual(JsonValueKind.Null, result.GetProperty("replicas").GetProperty("presenter").ValueKind);
    }

    private static bool IsLabLink(IEnumerable<UrlSnapshot> urls) =>
        urls.Any(u => u.DisplayProperties.DisplayName == "Session lab");

    private const string OfferPayload = """{"sdp":{"type":"offer","sdp":"v=0"},"type":"data","connectionId":"dc_1","label":"dc_1"}""";
    private const string AnswerPayload = """{"sdp":{"type":"answer","sdp":"v=0"},"type":"data","connectionId":"dc_1"}""";

    [Fact]
    public void Every_resource_is_running_and_healthy_with_redis_server_and_two_replicas()
    {
        var model = host.App.Services.GetRequiredService<DistributedApplicationModel>();
        var redis = Assert.IsType<RedisServerResource>(model.Resources.Single(r => r.Name == "redis"));
        Assert.Equal("redis-server", Path.GetFileName(redis.Command));
        Assert.DoesNotContain(model.Resources, r => r.Name is "grafana" or "plugin-dev");

        // Every instance the dashboard shows (hidden helpers such as a project's rebuilder excluded).
        var visible = host.Latest.Values.Where(e => !e.Snapshot.IsHidden).ToList();
        Assert.Equal(["redis", "signaling"], visible.Select(e => e.Resource.Name).Distinct().Order(StringComparer.Ordinal));
        foreach (var state in visible)
        {
            Assert.True(RunningAppHost.IsRunningAndHealthy(state), $"{state.ResourceId}: {state.Snapshot.State?.Text} / {state.Snapshot.HealthStatus}");
        }

        Assert.Equal(1, visible.Count(e => e.Resource.Name == "redis"));
        Assert.Equal(RunningAppHost.ExpectedReplicas, visible.Count(e => e.Resource.Name == "signaling"));
        Assert.Equal(RunningAppHost.ExpectedReplicas, host.Replicas.Select(r => r.HttpBase.Port).Distinct().Count());
    }

    [Fact]
    public void Every_replica_gets_the_redis_connection_string()
    {
        foreach (var replica in host.Replicas)
        {
            var connection = replica.Environment.GetValueOrDefault("ConnectionStrings__redis");
            Assert.False(string.IsNullOrEmpty(connection), $"{replica.ResourceId} has no ConnectionStrings__redis");
            Assert.Matches(@"^(localhost|127\.0\.0\.1):\d+$", connection);
        }
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/alive")]
    public async Task Health_endpoints_answer_through_the_proxy_and_on_each_replica(string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var target in host.Replicas.Select(r => r.HttpBase).Prepend(host.Proxy))
        {
            using var response = await http.GetAsync(new Uri(target, path));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{target}{path}: {(int)response.StatusCode}");
            Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task PeerJs_http_api_answers_through_the_proxy()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var info = await http.GetAsync(new Uri(host.Proxy, "/pathfinder"));
        Assert.Equal(HttpStatusCode.OK, info.StatusCode);
        using (var json = JsonDocument.Parse(await info.Content.ReadAsStringAsync()))
        {
            Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
        }

        var id = await http.GetStringAsync(new Uri(host.Proxy, "/pathfinder/pathfinder/id"));
        Assert.True(Guid.TryParse(id, out _), $"not a UUID: {id}");
    }

    [Fact]
    public async Task A_peer_on_one_replica_signals_a_peer_on_the_other_replica()
    {
        // Each peer is connected to a replica's own port, so the relay must cross replicas through Redis.
        var (first, second) = (host.Replicas[0], host.Replicas[1]);
        await using var presenter = await PeerClient.ConnectAsync(first.SocketUri, PeerClient.NewId("presenter"));
        await using var attendee = await PeerClient.ConnectAsync(second.SocketUri, PeerClient.NewId("attendee"));

        await AssertSignalsAsync(presenter, attendee);
    }

    [Fact]
    public async Task Through_the_proxy_peers_on_different_replicas_signal_each_other()
    {
        // The proxy spreads connections round-robin; the replica header says where each one landed.
        var replicasSeen = new HashSet<string>(StringComparer.Ordinal);
        await using var presenter = await ConnectThroughProxyAsync("presenter");
        var presenterReplica = ReplicaOf(presenter);
        replicasSeen.Add(presenterReplica);

        PeerClient? attendee = null;
        for (var attempt = 0; attempt < 10 && attendee is null; attempt++)
        {
            var candidate = await ConnectThroughProxyAsync("attendee");
            var replica = ReplicaOf(candidate);
            replicasSeen.Add(replica);
            if (replica != presenterReplica)
            {
                attendee = candidate;
            }
            else
            {
                await candidate.DisposeAsync();
            }
        }

        Assert.True(attendee is not null, $"10 proxied connections all landed on {presenterReplica}");
        await using (attendee)
        {
            await AssertSignalsAsync(presenter, attendee);
        }

        Assert.Equal(RunningAppHost.ExpectedReplicas, replicasSeen.Count);
    }

    [Fact]
    public async Task Each_replica_names_itself_and_the_proxy_reaches_all_of_them()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var names = new List<string>();
        foreach (var replica in host.Replicas)
        {
            using var response = await http.GetAsync(new Uri(replica.HttpBase, "/pathfinder"));
            names.Add(HeaderOf(response, replica.HttpBase));
        }

        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());

        // Round-robin over connections; the AppHost's own health probes share the proxy, so allow some slack.
        var throughProxy = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 20 && throughProxy.Count < names.Count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(host.Proxy, "/pathfinder"));
            request.Headers.ConnectionClose = true; // a new connection each time: the proxy balances connections
            using var response = await http.SendAsync(request);
            var name = HeaderOf(response, host.Proxy);
            Assert.Contains(name, names);
            throughProxy.Add(name);
        }

        Assert.Equal(names.Count, throughProxy.Count);
    }

    private async Task<PeerClient> ConnectThroughProxyAsync(string prefix) =>
        await PeerClient.ConnectAsync(
            new Uri($"ws://{host.Proxy.Authority}/pathfinder/peerjs"),
            PeerClient.NewId(prefix),
            configure: options => options.CollectHttpResponseDetails = true);

    private static string ReplicaOf(PeerClient client)
    {
        var headers = client.Socket.HttpResponseHeaders;
        Assert.True(
            headers is not null && headers.TryGetValue(Contract.ReplicaHeader, out var values) && values.Any(v => !string.IsNullOrEmpty(v)),
            $"the 101 response has no {Contract.ReplicaHeader} header (the service's replica-identity contract)");
        return headers[Contract.ReplicaHeader].First();
    }

    private static string HeaderOf(HttpResponseMessage response, Uri target)
    {
        Assert.True(
            response.Headers.TryGetValues(Contract.ReplicaHeader, out var values) && values.Any(v => !string.IsNullOrEmpty(v)),
            $"{target}: no {Contract.ReplicaHeader} header (the service's replica-identity contract)");
        return values.First();
    }

    internal static async Task AssertSignalsAsync(PeerClient presenter, PeerClient attendee)
    {
        await presenter.SendToAsync("OFFER", attendee.Id, OfferPayload);
        var offer = await attendee.ReceiveJsonAsync();
        Assert.Equal("OFFER", offer.GetProperty("type").GetString());
        Assert.Equal(presenter.Id, offer.GetProperty("src").GetString());
        Assert.Equal(attendee.Id, offer.GetProperty("dst").GetString());
        Assert.Equal("dc_1", offer.GetProperty("payload").GetProperty("connectionId").GetString());

        await attendee.SendToAsync("ANSWER", presenter.Id, AnswerPayload);
        var answer = await presenter.ReceiveJsonAsync();
        Assert.Equal("ANSWER", answer.GetProperty("type").GetString());
        Assert.Equal(attendee.Id, answer.GetProperty("src").GetString());
        Assert.Equal(presenter.Id, answer.GetProperty("dst").GetString());
        Assert.Equal(WebSocketState.Open, presenter.Socket.State);
        Assert.Equal(WebSocketState.Open, attendee.Socket.State);
    }
}
