using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>Cross-replica telemetry against a real redis-server: measured relay latency and one trace per relay.</summary>
public sealed class TelemetryTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static MetricCollector<T> Collect<T>(SignalingTestHost host, string instrument)
        where T : struct =>
        new(host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, instrument);

    [Fact]
    public async Task Relay_duration_is_measured_end_to_end_by_route_and_backplane_publishes_are_timed()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(2, redis.Server.ConnectionString);
        using var receiverDurations = Collect<double>(cluster[1], "pathfinder.signaling.relay.duration");
        using var senderDurations = Collect<double>(cluster[0], "pathfinder.signaling.relay.duration");
        using var publishes = Collect<double>(cluster[0], "pathfinder.signaling.backplane.publish.duration");
        using var relayed = Collect<long>(cluster[0], "pathfinder.signaling.messages.relayed");
        using var relayedAtReceiver = Collect<long>(cluster[1], "pathfinder.signaling.messages.relayed");

        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var local = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        await a.SendToAsync("OFFER", b.Id, "1");
        await b.ReceiveAsync();
        await a.SendToAsync("OFFER", local.Id, "2");
        await local.ReceiveAsync();

        // Each is recorded right after its hand-off; the receiving client may read the message first.
        await receiverDurations.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(10));
        await senderDurations.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(10));
        await publishes.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(10));
        var remote = Assert.Single(receiverDurations.GetMeasurementSnapshot(), m => (string?)m.Tags["route"] == "remote");
        Assert.InRange(remote.Value, 0, 10);
        Assert.Contains(senderDurations.GetMeasurementSnapshot(), m => (string?)m.Tags["route"] == "local");
        Assert.NotEmpty(publishes.GetMeasurementSnapshot());
        // Each relay is counted once, by the sender's replica.
        await relayed.WaitForMeasurementsAsync(2, TimeSpan.FromSeconds(10));
        Assert.Equal(["local", "remote"], relayed.GetMeasurementSnapshot().Select(m => (string?)m.Tags["route"]).Order());
        Assert.Empty(relayedAtReceiver.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task A_cross_replica_relay_is_one_trace()
    {
        var activities = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SignalingActivity.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(listener);

        await using var cluster = await ClusterUnderTest.StartAsync(2, redis.Server.ConnectionString);
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        await a.SendToAsync("OFFER", b.Id, "1");
        await b.ReceiveAsync();

        Activity? relay = null, deliver = null;
        await Poll.UntilAsync(
            () =>
            {
                relay = activities.FirstOrDefault(x => x.OperationName == "peerjs relay" && (string?)x.GetTagItem("peerjs.dst") == b.Id);
                deliver = activities.FirstOrDefault(x => x.OperationName == "peerjs deliver" && (string?)x.GetTagItem("peerjs.dst") == b.Id);
                return relay is not null && deliver is not null;
            },
            TimeSpan.FromSeconds(10),
            TimeSpan.FromMilliseconds(20));

        Assert.NotNull(relay);
        Assert.NotNull(deliver);
        Assert.Equal(relay.TraceId, deliver.TraceId);
        Assert.Equal(relay.SpanId, deliver.ParentSpanId);
        Assert.Equal("OFFER", relay.GetTagItem("peerjs.message.type"));
    }
}
