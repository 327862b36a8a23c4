using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Pathfinder.Signaling.Tests;

/// <summary>Item 6 (proxies): X-Forwarded-For/Proto are honoured only from configured proxies.</summary>
public sealed class ProxyTests
{
    private static Task<SignalingTestHost> StartAsync(params (string Name, string Value)[] settings)
    {
        var values = settings.ToDictionary(s => s.Name, s => (string?)s.Value);
        values["Logging:LogLevel:Pathfinder"] = "Debug"; // connect events are Debug
        return SignalingTestHost.StartAsync(values, Hardening.AddClientProbe, logging => logging.AddFakeLogging());
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_the_service_sees_the_real_client_ip_and_scheme()
    {
        await using var host = await StartAsync(("PROXIED", "true"));
        Assert.Equal(("https", "203.0.113.9"), await Hardening.ProbeAsync(host, "203.0.113.9", "https"));

        // A client's forged entries to the left of what the proxy appended are not trusted: the proxy's view wins.
        Assert.Equal(("http", "203.0.113.9"), await Hardening.ProbeAsync(host, "10.66.66.66, 203.0.113.9"));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.0/8")]
    [InlineData("10.0.0.5, 127.0.0.1")]
    public async Task Known_proxies_as_addresses_or_networks_are_trusted(string knownProxies)
    {
        await using var host = await StartAsync(("KNOWN_PROXIES", knownProxies));
        Assert.Equal(("https", "203.0.113.10"), await Hardening.ProbeAsync(host, "203.0.113.10", "https"));
    }

    [Fact]
    public async Task Forwarded_headers_from_an_address_that_is_not_a_known_proxy_are_ignored_and_reported_once()
    {
        await using var host = await StartAsync(("KNOWN_PROXIES", "10.9.8.7"));
        Assert.Equal(("http", "127.0.0.1"), await Hardening.ProbeAsync(host, "203.0.113.11", "https"));
        Assert.Equal(("http", "127.0.0.1"), await Hardening.ProbeAsync(host, "203.0.113.12", "https"));
        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 22);
    }

    [Fact]
    public async Task By_default_forwarded_headers_are_ignored()
    {
        await using var host = await StartAsync();
        Assert.Equal(("http", "127.0.0.1"), await Hardening.ProbeAsync(host, "203.0.113.13", "https"));
    }

    [Fact]
    public async Task Forged_forwarded_headers_do_not_escape_the_rate_limit()
    {
        await using var host = await StartAsync(
            ("KNOWN_PROXIES", "10.9.8.7"), ("RATE_LIMIT_ENABLED", "true"), ("RATE_LIMIT_MAX", "2"), ("RATE_LIMIT_WINDOW_MS", "60000"));
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: $"198.18.0.{i + 1}");
            statuses.Add(response.StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
    }

    [Fact]
    public async Task Logs_show_the_real_client_ip_behind_a_trusted_proxy()
    {
        await using var host = await StartAsync(("PROXIED", "true"));
        var peer = await PeerClient.ConnectAsync(host.SocketUri, configure: Hardening.Header("X-Forwarded-For", "203.0.113.77"));
        await peer.DisposeAsync();
        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 1
            && r.Message == $"[PeerJS] Client connected: {peer.Id} from 203.0.113.77");
    }
}
