using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Issue 14: every close the server starts ends the connection within the close timeout (5 s), even for a client that
/// reads nothing — its close frame then waits behind output that never drains, and without the timer the socket, its
/// buffers and its per-client slot were held for as long as the client liked.
/// </summary>
public sealed class CloseTimeoutTests
{
    [Fact]
    public async Task A_peer_dropped_for_missing_heartbeats_that_reads_nothing_is_cut_after_the_close_timeout()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Signaling:AliveTimeout"] = "3000",
            ["Signaling:LivenessCheckInterval"] = "100",
            // Room for far more output than the socket buffers hold, so the close frame cannot get out.
            ["Signaling:MaxMessageBytes"] = (1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Signaling:SendQueueBytes"] = (256 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Signaling:RelayByteBurst"] = (256 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Signaling:RelayBytesPerSecond"] = (256 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        using var disconnects = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, "pathfinder.signaling.disconnects");
        await using var stuck = await PeerClient.ConnectAsync(host.SocketUri, read: false); // never reads again
        await using var sender = await PeerClient.ConnectAsync(host.SocketUri);

        var chunk = $"\"{new string('s', 1000 * 1000)}\"";
        for (var i = 0; i < 40; i++)
        {
            await sender.SendAsync("""{"type":"HEARTBEAT"}""");
            await sender.SendToAsync("CANDIDATE", stuck.Id, chunk);
        }

        // The liveness sweep drops the stuck peer (no HEARTBEAT); its close frame waits behind ~40 MB it never reads,
        // so only the close timeout can end it. Bounded wait for its disconnect to be counted.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!disconnects.GetMeasurementSnapshot().Any(m => (string?)m.Tags["reason"] == "heartbeat_timeout"))
        {
            await sender.SendAsync("""{"type":"HEARTBEAT"}""");
            await disconnects.WaitForMeasurementsAsync(disconnects.GetMeasurementSnapshot().Count + 1).WaitAsync(TimeSpan.FromSeconds(1), cts.Token)
                .ContinueWith(_ => { }, TaskScheduler.Default); // a second without a new measurement: heartbeat again, wait again
            cts.Token.ThrowIfCancellationRequested();
        }

        Assert.Single(disconnects.GetMeasurementSnapshot(), m => (string?)m.Tags["reason"] == "heartbeat_timeout");
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, sender.Socket.State);
    }
}
