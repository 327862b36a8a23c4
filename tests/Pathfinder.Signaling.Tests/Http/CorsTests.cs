using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Tests;

/// <summary>Item 3: the CORS allow-list governs the HTTP API and the WebSocket upgrade's Origin.</summary>
public sealed class CorsTests
{
    private const string Allowed = "https://grafana.example.com";
    private const string WildcardAllowed = "https://team-a.grafana.net";
    private const string Denied = "https://evil.example.org";

    private static Task<SignalingTestHost> StartAsync() =>
        SignalingTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["CORS_ORIGINS"] = "https://grafana.example.com,https://*.grafana.net",
                ["Logging:LogLevel:Pathfinder"] = "Information",
            },
            configureLogging: logging => logging.AddFakeLogging());

    private static string? AllowOrigin(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) ? Assert.Single(values) : null;

    [Theory]
    [InlineData(Allowed)]
    [InlineData(WildcardAllowed)]
    public async Task Listed_origins_get_cors_headers_on_200_and_401(string origin)
    {
        await using var host = await StartAsync();
        using var info = await Hardening.GetAsync(host, "/pathfinder", origin);
        Assert.Equal(HttpStatusCode.OK, info.StatusCode);
        Assert.Equal(origin, AllowOrigin(info));

        using var unauthorized = await Hardening.GetAsync(host, "/pathfinder/pathfinder/peers", origin);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        Assert.Equal(origin, AllowOrigin(unauthorized));
    }

    [Theory]
    [InlineData(Denied)]
    [InlineData("https://grafana.net")]
    [InlineData("http://grafana.example.com")]
    [InlineData("https://grafana.example.com.evil.org")]
    public async Task Other_origins_get_no_cors_headers(string origin)
    {
        await using var host = await StartAsync();
        using var info = await Hardening.GetAsync(host, "/pathfinder", origin);
        Assert.Null(AllowOrigin(info));
        using var id = await Hardening.GetAsync(host, "/pathfinder/pathfinder/id", origin);
        Assert.Null(AllowOrigin(id));
    }

    [Theory]
    [InlineData(Allowed, true)]
    [InlineData(WildcardAllowed, true)]
    [InlineData(Denied, false)]
    public async Task Preflights_are_answered_with_headers_only_for_listed_origins(string origin, bool allowed)
    {
        await using var host = await StartAsync();
        using var http = Hardening.Http();
        using var request = new HttpRequestMessage(HttpMethod.Options, new Uri(host.HttpBase, "/pathfinder/pathfinder/id"));
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "GET");
        using var response = await http.SendAsync(request);
        Assert.True(response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.OK, response.StatusCode.ToString());
        Assert.Equal(allowed ? origin : null, AllowOrigin(response));
        Assert.Equal(allowed, response.Headers.Contains("Access-Control-Allow-Methods"));
    }

    [Theory]
    [InlineData(Allowed)]
    [InlineData(WildcardAllowed)]
    public async Task Listed_origins_open_sockets(string origin)
    {
        await using var host = await StartAsync();
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri, configure: Hardening.Header("Origin", origin));
    }

    [Fact]
    public async Task A_socket_from_another_origin_is_refused_with_403_before_the_upgrade_counted_and_logged()
    {
        await using var host = await StartAsync();
        using var connections = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, "pathfinder.signaling.connections");

        var (status, _) = await Hardening.RefusedUpgradeAsync(host.SocketUri, "pathfinder", Hardening.Header("Origin", Denied));

        Assert.Equal(HttpStatusCode.Forbidden, status);
        var measurement = Assert.Single(connections.GetMeasurementSnapshot());
        Assert.Equal("origin_denied", measurement.Tags["outcome"]);
        var logs = host.Services.GetFakeLogCollector().GetSnapshot();
        Assert.Contains(logs, r => r.Id.Id == 3 && r.Message.Contains("(origin_denied)", StringComparison.Ordinal));
        Assert.Contains(logs, r => r.Id.Id == 21 && r.Message.Contains(Denied, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_without_an_origin_is_not_a_browser_and_is_not_restricted_by_it()
    {
        await using var host = await StartAsync();
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri);
        await peer.SendToAsync("OFFER", peer.Id, "\"self\"");
        Assert.Equal($$"""{"type":"OFFER","src":"{{peer.Id}}","dst":"{{peer.Id}}","payload":"self"}""", await peer.ReceiveAsync());
    }

    [Fact]
    public async Task Without_an_allow_list_any_origin_may_use_the_api_and_open_sockets()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri, configure: Hardening.Header("Origin", Denied));
        using var info = await Hardening.GetAsync(host, "/pathfinder", Denied);
        Assert.Equal(Denied, AllowOrigin(info));
    }
}
