using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Pathfinder.Signaling.Tests;

public sealed partial class HttpApiTests
{
    private const string InfoBody =
        """{"name":"PeerJS Server","description":"A server side element to broker connections between PeerJS clients.","website":"https://peerjs.com/"}""";

    // The peerjs client's validateId rule.
    [GeneratedRegex("^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$")]
    private static partial Regex ValidClientId();

    private static HttpClient Client() => new() { Timeout = TimeSpan.FromSeconds(10) };

    [Theory]
    [InlineData("/pathfinder")]
    [InlineData("/pathfinder/")]
    public async Task Info_is_served_at_the_path_with_and_without_slash(string path)
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        var response = await http.GetAsync(new Uri(host.HttpBase, path));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Equal(InfoBody, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Id_is_a_fresh_bare_uuid_valid_for_the_client()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        var ids = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            var response = await http.GetAsync(new Uri(host.HttpBase, "/pathfinder/pathfinder/id?ts=123&version=1.5.5"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/html; charset=utf-8", response.Content.Headers.ContentType!.ToString());
            var id = await response.Content.ReadAsStringAsync();
            Assert.Equal(36, id.Length);
            Assert.True(Guid.TryParse(id, out _), id);
            Assert.Matches(ValidClientId(), id);
            Assert.True(ids.Add(id), "ids must be unique");
        }
    }

    [Theory]
    [InlineData("/pathfinder/wrong/id")]
    [InlineData("/pathfinder/peerjs/id")]
    [InlineData("/pathfinder/PATHFINDER/id")]
    public async Task Id_checks_the_key(string path)
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        var response = await http.GetAsync(new Uri(host.HttpBase, path));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Peers_is_401_with_cors_when_discovery_is_off()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(host.HttpBase, "/pathfinder/pathfinder/peers"));
        request.Headers.Add("Origin", "https://grafana.example");
        var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Unauthorized", await response.Content.ReadAsStringAsync());
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.ToString());
        Assert.Equal("https://grafana.example", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
    }

    [Fact]
    public async Task Peers_lists_connected_ids_when_discovery_is_on_and_checks_the_key()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:AllowDiscovery"] = "true" });
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        using var http = Client();

        var ids = JsonSerializer.Deserialize<string[]>(await http.GetStringAsync(new Uri(host.HttpBase, "/pathfinder/pathfinder/peers")))!;
        Assert.Contains(a.Id, ids);
        Assert.Contains(b.Id, ids);
        Assert.Equal(2, ids.Length);

        var wrongKey = await http.GetAsync(new Uri(host.HttpBase, "/pathfinder/nope/peers"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);
    }

    [Theory]
    [InlineData("/pathfinder")]
    [InlineData("/pathfinder/pathfinder/id")]
    [InlineData("/pathfinder/wrong/id")]
    [InlineData("/pathfinder/does/not/exist")]
    public async Task Every_api_response_reflects_the_origin(string path)
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(host.HttpBase, path));
        request.Headers.Add("Origin", "http://localhost:3000");
        var response = await http.SendAsync(request);
        Assert.Equal("http://localhost:3000", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Contains("Origin", response.Headers.Vary);
    }

    [Fact]
    public async Task Unknown_api_path_is_404_with_cors()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(host.HttpBase, "/pathfinder/a/b/c"));
        request.Headers.Add("Origin", "http://localhost:3000");
        var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.True(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Preflight_is_answered_with_cors_headers()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        using var request = new HttpRequestMessage(HttpMethod.Options, new Uri(host.HttpBase, "/pathfinder/pathfinder/id"));
        request.Headers.Add("Origin", "http://localhost:3000");
        request.Headers.Add("Access-Control-Request-Method", "GET");
        request.Headers.Add("Access-Control-Request-Headers", "x-custom");
        var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("http://localhost:3000", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Contains("GET", string.Join(",", response.Headers.GetValues("Access-Control-Allow-Methods")));
        Assert.Contains("x-custom", string.Join(",", response.Headers.GetValues("Access-Control-Allow-Headers")));
    }

    [Fact]
    public async Task No_origin_means_no_allow_origin_header()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        var response = await http.GetAsync(new Uri(host.HttpBase, "/pathfinder"));
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("/", "/", "/peerjs")]
    [InlineData("/signal/ing/", "/signal/ing", "/signal/ing/peerjs")]
    [InlineData("custom", "/custom", "/custom/peerjs")]
    public async Task The_path_is_configurable(string configured, string apiPath, string socketPath)
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:Path"] = configured });
        using var http = Client();
        Assert.Equal(InfoBody, await http.GetStringAsync(new Uri(host.HttpBase, apiPath)));
        var id = await http.GetStringAsync(new Uri(host.HttpBase, apiPath.TrimEnd('/') + "/pathfinder/id"));
        Assert.True(Guid.TryParse(id, out _));
        await using var peer = await PeerClient.ConnectAsync(new Uri($"ws://{host.HttpBase.Authority}{socketPath}"));
    }

    [Fact]
    public async Task Plain_get_on_the_socket_path_explains_itself()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        var response = await http.GetAsync(new Uri(host.HttpBase, "/pathfinder/peerjs"));
        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Contains("WebSocket", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Health_and_alive_answer()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Client();
        Assert.Equal("Healthy", await http.GetStringAsync(new Uri(host.HttpBase, "/health")));
        Assert.Equal("Healthy", await http.GetStringAsync(new Uri(host.HttpBase, "/alive")));
    }
}
