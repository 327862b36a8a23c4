using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Hosting;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// The session lab over plain HTTP: served in Development, 404 elsewhere unless Signaling:Lab / LAB_ENABLED turns it on;
/// what it serves (the page with a strict CSP, the npm-built peerjs bundle, the path and key, replica names) and what it
/// never serves (any other setting).
/// </summary>
public sealed class LabEndpointTests
{
    private static readonly string[] LabPaths = ["/lab", "/lab/lab.js", "/lab/service.js", "/lab/lab.css", "/lab/peerjs.min.js", "/lab/config.json", "/lab/replica?id=abc"];

    [Fact]
    public async Task Outside_Development_the_lab_is_404_unless_enabled()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:Key"] = Hardening.StrongKey }, environment: "Production");
        using var http = new HttpClient();
        foreach (var path in LabPaths)
        {
            using var response = await http.GetAsync(new Uri(host.HttpBase, path));
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{path}: {response.StatusCode}");
        }
    }

    [Theory]
    [InlineData("Signaling:Lab", "true")]
    [InlineData("LAB_ENABLED", "1")]
    public async Task Outside_Development_the_setting_turns_the_lab_on(string setting, string value)
    {
        await using var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?> { ["Signaling:Key"] = Hardening.StrongKey, [setting] = value },
            environment: "Production");
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(host.HttpBase, "/lab"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task In_Development_the_lab_is_on_unless_turned_off()
    {
        await using (var off = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["LAB_ENABLED"] = "false" }))
        {
            using var http = new HttpClient();
            using var response = await http.GetAsync(new Uri(off.HttpBase, "/lab"));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:Cluster:ReplicaId"] = "replica-lab" });
        using var client = new HttpClient();
        using var page = await client.GetAsync(new Uri(host.HttpBase, "/lab"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var csp = Assert.Single(page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<script src=\"lab/peerjs.min.js\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal); // no inline script: CSP-friendly
        Assert.DoesNotContain("://", html, StringComparison.Ordinal); // nothing from another site (no CDN)

        foreach (var path in LabPaths)
        {
            using var response = await client.GetAsync(new Uri(host.HttpBase, path));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {response.StatusCode}");
        }

        // The real peerjs client, from npm at build time.
        var bundle = await client.GetStringAsync(new Uri(host.HttpBase, "/lab/peerjs.min.js"));
        Assert.Contains("1.5.5", bundle, StringComparison.Ordinal);

        // The settings the page needs, and nothing else.
        using var config = JsonDocument.Parse(await client.GetStringAsync(new Uri(host.HttpBase, "/lab/config.json")));
        Assert.Equal(["path", "key", "replica"], config.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("/pathfinder", config.RootElement.GetProperty("path").GetString());
        Assert.Equal(SignalingTestHost.DefaultKey, config.RootElement.GetProperty("key").GetString());
        Assert.Equal("replica-lab", config.RootElement.GetProperty("replica").GetString());

        // "/lab/" would break the page's relative links.
        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var slash = await noRedirect.GetAsync(new Uri(host.HttpBase, "/lab/"));
        Assert.Equal(HttpStatusCode.MovedPermanently, slash.StatusCode);
        Assert.Equal("/lab", new Uri(new Uri(host.HttpBase, "/lab/"), slash.Headers.Location!).AbsolutePath);
    }

    [Fact]
    public async Task The_replica_lookup_names_the_replica_holding_a_peer_and_checks_the_id()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:Cluster:ReplicaId"] = "replica-7" });
        var id = PeerClient.NewId();
        await using var peer = await PeerClient.OpenAsync(host.SocketUri, id);
        using var http = new HttpClient();

        using var held = JsonDocument.Parse(await http.GetStringAsync(new Uri(host.HttpBase, $"/lab/replica?id={id}")));
        Assert.Equal("replica-7", held.RootElement.GetProperty("replica").GetString());
        Assert.Equal("replica-7", held.RootElement.GetProperty("answeredBy").GetString());

        using var absent = JsonDocument.Parse(await http.GetStringAsync(new Uri(host.HttpBase, "/lab/replica?id=nobody-here")));
        Assert.Equal(JsonValueKind.Null, absent.RootElement.GetProperty("replica").ValueKind);

        using var bad = await http.GetAsync(new Uri(host.HttpBase, "/lab/replica?id=%3Cscript%3E"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task The_replica_lookup_counts_against_the_per_IP_rate_limit_and_the_page_does_not()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Signaling:RateLimitEnabled"] = "true",
            ["Signaling:RateLimitMax"] = "2",
        });
        using var http = new HttpClient();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            using var lookup = await http.GetAsync(new Uri(host.HttpBase, "/lab/replica?id=someone"));
            statuses.Add(lookup.StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
        using var page = await http.GetAsync(new Uri(host.HttpBase, "/lab"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    [Fact]
    public void The_startup_banner_shows_the_lab_url_when_it_is_on()
    {
        var box = StartupBanner.Box(["http://localhost:9000/pathfinder"], "running", ["http://localhost:9000/lab"]);
        Assert.Contains("Lab:    http://localhost:9000/lab", box, StringComparison.Ordinal);
        Assert.DoesNotContain("Lab:", StartupBanner.Box(["http://localhost:9000/pathfinder"], "running"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_setting_is_off_by_default_outside_Development()
    {
        var empty = new ConfigurationBuilder().Build();
        var production = SignalingConfiguration.Load(
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Signaling:Key"] = Hardening.StrongKey }).Build(),
            new Environment("Production")).Options;
        Assert.False(production.LabOn(new Environment("Production")));
        Assert.False(production.LabOn(new Environment("Staging")));
        Assert.True(SignalingConfiguration.Load(empty, new Environment("Development")).Options.LabOn(new Environment("Development")));
    }

    private sealed class Environment(string name) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = name;

        public string ApplicationName { get; set; } = "test";

        public string ContentRootPath { get; set; } = AppContext.BaseDirectory;

        public Microsoft.Extensions.FileProviders.IFileProvider ContentRootFileProvider { get; set; } = null!;
    }
}
