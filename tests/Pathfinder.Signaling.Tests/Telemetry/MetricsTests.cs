using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Tests;

/// <summary>Each instrument of the meter, observed with MetricCollector on a real service.</summary>
public sealed class MetricsTests
{
    private static MetricCollector<T> Collect<T>(SignalingTestHost host, string name)
        where T : struct => new(host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, name);

    private static IEnumerable<string?> Tag<T>(MetricCollector<T> collector, string tag)
        where T : struct => collector.GetMeasurementSnapshot().Select(m => (string?)m.Tags[tag]);

    [Fact]
    public async Task Connections_by_outcome_connect_duration_and_active_peers()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:ConcurrentLimit"] = "2" });
        using var connections = Collect<long>(host, "pathfinder.signaling.connections");
        using var duration = Collect<double>(host, "pathfinder.signaling.connect.duration");
        using var active = Collect<long>(host, "pathfinder.signaling.active_peers");

        var id = PeerClient.NewId();
        await using (var a = await PeerClient.ConnectAsync(host.SocketUri, id, token: "t"))
        {
            await using var b = await PeerClient.ConnectAsync(host.SocketUri);
            foreach (var (key, peer, token) in new[] { ("wrong", PeerClient.NewId(), "x"), ("pathfinder", id, "other"), ("pathfinder", PeerClient.NewId(), "y") })
            {
                await using var refused = await PeerClient.OpenAsync(host.SocketUri, peer, token, key);
                await refused.WaitForCloseAsync();
            }

            await using var bad = await PeerClient.OpenAsync(host.SocketUri, null, "t");
            await bad.WaitForCloseAsync();
            Assert.Equal(2, active.GetMeasurementSnapshot().EvaluateAsCounter());
        }

        await active.WaitForMeasurementsAsync(4, TimeSpan.FromSeconds(10));
        Assert.Equal(0, active.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Equal(
            new[] { "bad_request", "id_taken", "invalid_key", "limit", "opened", "opened" },
            Tag(connections, "outcome").Order());
        Assert.Equal(2, duration.GetMeasurementSnapshot().Count);
        Assert.All(duration.GetMeasurementSnapshot(), m => Assert.InRange(m.Value, 0, 10));
    }

    [Fact]
    public async Task Local_relays_are_counted_and_timed()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var relayed = Collect<long>(host, "pathfinder.signaling.messages.relayed");
        using var duration = Collect<double>(host, "pathfinder.signaling.relay.duration");
        using var ignored = Collect<long>(host, "pathfinder.signaling.messages.ignored");
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        await a.SendAsync("""{"type":"NOPE"}""");
        await a.SendToAsync("OFFER", b.Id, "1");
        await b.ReceiveAsync();
        // The hand-off is recorded right after the frame is queued; the receiver may read it first.
        await relayed.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(10));
        await duration.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(10));
        Assert.Equal(["local"], Tag(relayed, "route"));
        Assert.Equal(["local"], Tag(duration, "route"));
        Assert.Equal(1, ignored.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public async Task Offline_queue_queued_delivered_and_expired()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?> { ["Signaling:CleanupOutMsgs"] = "864000000" },
            services => services.AddSingleton<TimeProvider>(time));
        using var queued = Collect<long>(host, "pathfinder.signaling.offline.queued");
        using var delivered = Collect<long>(host, "pathfinder.signaling.offline.delivered");
        using var expired = Collect<long>(host, "pathfinder.signaling.offline.expired");
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        var later = PeerClient.NewId();
        var never = PeerClient.NewId();
        await a.SendToAsync("OFFER", later, "1");
        await a.SendToAsync("CANDIDATE", later, "2");
        await a.SendToAsync("OFFER", never, "3");
        Assert.Empty(await a.DrainWithMarkerAsync());
        Assert.Equal(3, queued.GetMeasurementSnapshot().EvaluateAsCounter());

        await using var b = await PeerClient.ConnectAsync(host.SocketUri, later);
        Assert.Equal(2, delivered.GetMeasurementSnapshot().EvaluateAsCounter());

        time.Advance(TimeSpan.FromSeconds(6));
        await host.Services.GetRequiredService<PeerRouter>().SweepExpiredAsync(CancellationToken.None);
        Assert.Equal(1, expired.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public async Task Disconnects_by_reason()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?> { ["Signaling:LivenessCheckInterval"] = "864000000" },
            services => services.AddSingleton<TimeProvider>(time));
        using var disconnects = Collect<long>(host, "pathfinder.signaling.disconnects");
        var id = PeerClient.NewId();
        await using var old = await PeerClient.ConnectAsync(host.SocketUri, id, token: "same");
        await using var fresh = await PeerClient.ConnectAsync(host.SocketUri, id, token: "same");
        await old.WaitForCloseAsync();
        var quitter = await PeerClient.ConnectAsync(host.SocketUri);
        await quitter.DisposeAsync();
        await disconnects.WaitForMeasurementsAsync(2, TimeSpan.FromSeconds(10));

        time.Advance(TimeSpan.FromSeconds(61));
        await using var sleeper = await PeerClient.ConnectAsync(host.SocketUri);
        Assert.Equal(1, host.Services.GetRequiredService<PeerRouter>().SweepLiveness()); // fresh is stale; sleeper is new
        await fresh.WaitForCloseAsync();
        await disconnects.WaitForMeasurementsAsync(3, TimeSpan.FromSeconds(10));

        await host.DisposeAsync(); // graceful shutdown closes the rest
        await sleeper.WaitForCloseAsync();
        await disconnects.WaitForMeasurementsAsync(4, TimeSpan.FromSeconds(10));
        Assert.Equal(
            new[] { "client_close", "heartbeat_timeout", "shutdown", "takeover" },
            Tag(disconnects, "reason").Order());
    }
}
