using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Pathfinder.Signaling.Telemetry;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling.Tests;

/// <summary>Item 5: concurrent sockets per client IP, on top of concurrent_limit; over it, the spec's in-band ERROR and close.</summary>
public sealed class ConnectionLimitTests
{
    private const string LimitError = """{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}""";

    private static Task<SignalingTestHost> StartAsync(int perIp) =>
        SignalingTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["MAX_CONNECTIONS_PER_PEER"] = perIp.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["PROXIED"] = "true",
                ["Logging:LogLevel:Pathfinder"] = "Information",
            },
            configureLogging: logging => logging.AddFakeLogging());

    [Fact]
    public async Task Over_the_per_ip_limit_a_socket_gets_the_limit_error_and_is_closed_while_other_ips_connect()
    {
        await using var host = await StartAsync(perIp: 2);
        using var connections = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, "pathfinder.signaling.connections");
        var fromX = Hardening.Header("X-Forwarded-For", "192.0.2.10");
        await using var a = await PeerClient.ConnectAsync(host.SocketUri, configure: fromX);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri, configure: fromX);

        await using var c = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), configure: fromX);
        Assert.Equal([LimitError], await c.WaitForCloseAsync());

        await using var other = await PeerClient.ConnectAsync(host.SocketUri, configure: Hardening.Header("X-Forwarded-For", "192.0.2.11"));
        // A client may see OPEN a moment before the server counts it: wait (bounded) for all four, in any order.
        await connections.WaitForMeasurementsAsync(4).WaitAsync(PeerClient.DefaultTimeout);
        Assert.Equal(["limit", "opened", "opened", "opened"], connections.GetMeasurementSnapshot().Select(m => (string)m.Tags["outcome"]!).Order());
        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 3
            && r.Message.Contains("(ip_limit)", StringComparison.Ordinal) && r.Message.Contains("192.0.2.10", StringComparison.Ordinal));

        // The holders are unaffected.
        await a.SendToAsync("OFFER", b.Id, "1");
        Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{b.Id}}","payload":1}""", await b.ReceiveAsync());
    }

    [Fact]
    public async Task A_closed_socket_gives_its_slot_back()
    {
        await using var host = await StartAsync(perIp: 1);
        var limiter = host.Services.GetRequiredService<ClientSocketLimiter>();
        var fromX = Hardening.Header("X-Forwarded-For", "192.0.2.20");
        var first = await PeerClient.ConnectAsync(host.SocketUri, configure: fromX);
        Assert.Equal(1, limiter.OpenFrom("192.0.2.20"));
        await first.DisposeAsync();

        // The slot is given back when the server has finished with the socket: wait (bounded) for that, then reconnect.
        await Poll.AssertAsync(() => limiter.OpenFrom("192.0.2.20") == 0, TimeSpan.FromSeconds(10), "the slot was not given back", TimeSpan.FromMilliseconds(20));

        await using var again = await PeerClient.ConnectAsync(host.SocketUri, configure: fromX);
    }

    [Fact]
    public async Task The_default_is_50_sockets_per_ip()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var peers = new List<PeerClient>();
        try
        {
            for (var i = 0; i < 50; i++)
            {
                peers.Add(await PeerClient.ConnectAsync(host.SocketUri));
            }

            await using var over = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId());
            Assert.Equal([LimitError], await over.WaitForCloseAsync());
        }
        finally
        {
            foreach (var peer in peers)
            {
                await peer.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Zero_means_no_per_ip_limit()
    {
        await using var host = await StartAsync(perIp: 0);
        var peers = new List<PeerClient>();
        try
        {
            for (var i = 0; i < 60; i++)
            {
                peers.Add(await PeerClient.ConnectAsync(host.SocketUri));
            }

            // Past the default per-IP limit (50) every socket is a registered peer: the last reaches the first.
            await peers[^1].SendToAsync("OFFER", peers[0].Id, "\"sixtieth\"");
            Assert.Equal($$"""{"type":"OFFER","src":"{{peers[^1].Id}}","dst":"{{peers[0].Id}}","payload":"sixtieth"}""", await peers[0].ReceiveAsync());
        }
        finally
        {
            foreach (var peer in peers)
            {
                await peer.DisposeAsync();
            }
        }
    }
}
