using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Item 4: per-client-IP rate limiting of the HTTP API and WebSocket upgrades. Different client IPs are simulated
/// with X-Forwarded-For from 127.0.0.1, trusted as the proxy (PROXIED).
/// </summary>
public sealed class RateLimitTests
{
    private static Task<SignalingTestHost> StartAsync(int max, int windowMs, string environment = "Development") =>
        SignalingTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["RATE_LIMIT_ENABLED"] = "true",
                ["RATE_LIMIT_MAX"] = max.ToString(CultureInfo.InvariantCulture),
                ["RATE_LIMIT_WINDOW_MS"] = windowMs.ToString(CultureInfo.InvariantCulture),
                ["PROXIED"] = "true",
                ["PEERJS_KEY"] = Hardening.StrongKey,
                ["Logging:LogLevel:Pathfinder"] = "Information",
            },
            configureLogging: logging => logging.AddFakeLogging(),
            environment: environment);

    private static string NewIp() => $"203.0.113.{Random.Shared.Next(1, 255)}";

    private static int RetryAfter(HttpResponseMessage response) =>
        int.Parse(Assert.Single(response.Headers.GetValues("Retry-After")), CultureInfo.InvariantCulture);

    [Fact]
    public async Task Over_the_limit_an_ip_gets_429_with_retry_after_and_other_ips_are_unaffected()
    {
        await using var host = await StartAsync(max: 3, windowMs: 60_000);
        const string a = "198.51.100.1";
        for (var i = 0; i < 3; i++)
        {
            using var ok = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: a);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var limited = await Hardening.GetAsync(host, $"/pathfinder/{Hardening.StrongKey}/id", origin: "https://grafana.example.com", forwardedFor: a);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.InRange(RetryAfter(limited), 1, 60);
        Assert.Equal("https://grafana.example.com", Assert.Single(limited.Headers.GetValues("Access-Control-Allow-Origin")));

        using var other = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: "198.51.100.2");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        await using var otherPeer = await PeerClient.ConnectAsync(
            host.SocketUri, key: Hardening.StrongKey, configure: Hardening.Header("X-Forwarded-For", "198.51.100.2"));

        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 20 && r.Message.Contains(a, StringComparison.Ordinal));
    }

    [Fact]
    public async Task WebSocket_upgrades_count_and_over_the_limit_get_429_before_any_upgrade_counted_and_logged()
    {
        await using var host = await StartAsync(max: 2, windowMs: 60_000);
        using var connections = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, "pathfinder.signaling.connections");
        const string ip = "198.51.100.7";
        var fromIp = Hardening.Header("X-Forwarded-For", ip);
        await using var first = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey, configure: fromIp);
        await using var second = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey, configure: fromIp);

        var (status, headers) = await Hardening.RefusedUpgradeAsync(host.SocketUri, Hardening.StrongKey, fromIp);

        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.True(headers.ContainsKey("Retry-After"));
        // A client may see OPEN a moment before the server counts it: wait (bounded) for all three, in any order.
        await connections.WaitForMeasurementsAsync(3).WaitAsync(PeerClient.DefaultTimeout);
        Assert.Equal(["opened", "opened", "rate_limited"], connections.GetMeasurementSnapshot().Select(m => (string)m.Tags["outcome"]!).Order());
        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 3
            && r.Message.Contains("(rate_limited)", StringComparison.Ordinal) && r.Message.Contains(ip, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_limit_recovers_when_the_window_ends()
    {
        await using var host = await StartAsync(max: 2, windowMs: 1000);
        var ip = NewIp();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 20 && limited is null; i++)
        {
            var response = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: ip);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                response.Dispose();
            }
        }

        Assert.NotNull(limited);
        Assert.Equal(1, RetryAfter(limited));
        limited.Dispose();

        // Bounded: the window is 1 s; allow generous slack for a loaded machine.
        await Poll.AssertAsync(
            async () =>
            {
                using var again = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: ip);
                Assert.True(again.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, again.StatusCode.ToString());
                return again.StatusCode == HttpStatusCode.OK;
            },
            TimeSpan.FromSeconds(10),
            "the rate limit did not recover after its window",
            TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Health_endpoints_are_never_rate_limited()
    {
        await using var host = await StartAsync(max: 1, windowMs: 60_000);
        for (var i = 0; i < 5; i++)
        {
            using var health = await Hardening.GetAsync(host, "/health");
            using var alive = await Hardening.GetAsync(host, "/alive");
            Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (health.StatusCode, alive.StatusCode));
        }
    }

    [Fact]
    public async Task Production_limits_by_default_with_the_seeds_100_requests_per_15_minutes()
    {
        await using var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?> { ["PEERJS_KEY"] = Hardening.StrongKey }, environment: "Production");
        using var http = Hardening.Http();
        for (var i = 0; i < 100; i++)
        {
            using var ok = await http.GetAsync(host.ApiBase);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var limited = await http.GetAsync(host.ApiBase);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.InRange(RetryAfter(limited), 1, 900);
    }

    [Fact]
    public async Task Development_does_not_limit_by_default()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = Hardening.Http();
        for (var i = 0; i < 150; i++)
        {
            using var ok = await http.GetAsync(host.ApiBase);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
    }
}
