using System.Text.Json;
using System.Text.RegularExpressions;

namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>
/// The provisioned Grafana dashboard only queries metrics the service really emits: real replicas (two on a real
/// redis-server, one whose Redis is down) are driven through every path, their Prometheus endpoints scraped, and
/// every metric name in the dashboard's queries must be among the scraped series.
/// </summary>
public sealed partial class DashboardTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [GeneratedRegex(@"pathfinder_signaling_[a-z_]+")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"^(?:# TYPE )?(pathfinder_signaling_[a-z_]+)", RegexOptions.Multiline)]
    private static partial Regex ScrapedName();

    public static string DashboardPath()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pathfinder.sln")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        return Path.Combine(dir.FullName, "Pathfinder.GrafanaDev", "grafana", "dashboards", "pathfinder-signaling.json");
    }

    [Fact]
    public void The_dashboard_is_valid_json_with_the_panels_operators_asked_for()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(DashboardPath()));
        var root = doc.RootElement;
        Assert.Equal("pathfinder-signaling", root.GetProperty("uid").GetString());
        var titles = root.GetProperty("panels").EnumerateArray().Select(p => p.GetProperty("title").GetString()).ToList();
        foreach (var wanted in new[] { "Connection success", "Active peers per replica", "Average connection time", "Connect latency", "Relay latency by route", "Disconnect reasons", "Offline queue" })
        {
            Assert.Contains(wanted, titles);
        }

        foreach (var panel in root.GetProperty("panels").EnumerateArray())
        {
            Assert.True(panel.GetProperty("targets").GetArrayLength() > 0, $"panel {panel.GetProperty("title")} has no query");
        }
    }

    [Fact]
    public async Task Every_metric_the_dashboard_queries_is_emitted_by_the_service()
    {
        var prometheus = new Dictionary<string, string?>
        {
            ["Signaling:Telemetry:PrometheusEndpoint"] = "/metrics",
            ["Signaling:OfflineQueuePerPeer"] = "1",
        };
        await using var cluster = await ClusterUnderTest.StartAsync(2, redis.Server.ConnectionString, prometheus);
        using var absent = Ports.Reserve(); // no Redis ever answers there
        await using var orphan = await ClusterUnderTest.StartAsync(1, absent.Address, prometheus);

        // Handshakes: opened and refused; relays local and remote; malformed; dropped; offline queued, refused,
        // delivered and expired; a disconnect; a backplane error.
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        await using var c = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using (var wrong = await PeerClient.OpenAsync(cluster.Socket(0), PeerClient.NewId(), key: "wrong"))
        {
            await wrong.WaitForCloseAsync();
        }

        await a.SendToAsync("OFFER", b.Id, "1");
        await b.ReceiveAsync();
        await a.SendToAsync("OFFER", c.Id, "1");
        await c.ReceiveAsync();
        await a.SendAsync("not json");
        await a.SendToAsync("LEAVE", PeerClient.NewId(), "1");
        var later = PeerClient.NewId();
        var never = PeerClient.NewId();
        await a.SendToAsync("OFFER", later, "1");
        await a.SendToAsync("OFFER", later, "2");
        await a.SendToAsync("OFFER", never, "3");
        await a.DrainWithMarkerAsync(); // all of the above handled before "later" connects
        await using (var late = await PeerClient.ConnectAsync(cluster.Socket(1), later))
        {
            await late.ReceiveAsync();
        }

        cluster.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, await cluster.SweepExpiredAsync());
        await using (var lonely = await PeerClient.OpenAsync(orphan.Socket(0), PeerClient.NewId()))
        {
            await lonely.WaitForCloseAsync(); // refused: no id is granted while the backplane is down (a backplane error)
        }

        var scraped = new HashSet<string>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var replica in cluster.Replicas.Concat(orphan.Replicas))
        {
            var text = await http.GetStringAsync(new Uri(replica.HttpBase, "/metrics"));
            foreach (Match match in ScrapedName().Matches(text))
            {
                scraped.Add(match.Groups[1].Value);
            }
        }

        var queried = MetricName().Matches(File.ReadAllText(DashboardPath())).Select(m => m.Value).ToHashSet();
        Assert.NotEmpty(queried);
        var missing = queried.Where(name => !scraped.Contains(name)).Order().ToList();
        Assert.True(missing.Count == 0, $"the dashboard queries metrics the service does not emit: {string.Join(", ", missing)}; emitted: {string.Join(", ", scraped.Order())}");
    }

    [Fact]
    public async Task The_scrape_endpoint_is_off_unless_configured()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(host.HttpBase, "/metrics"));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
    }
}
