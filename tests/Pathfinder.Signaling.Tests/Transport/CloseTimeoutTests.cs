using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Pathfinder.Signaling.Telemetry;
using Pathfinder.Signaling.Transport;

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

    [Fact]
    public async Task A_client_that_keeps_sending_after_the_servers_close_is_cut_after_four_of_the_largest_messages()
    {
        const int maxMessage = 16 * 1024;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow); // nothing refills the relay rate
        await using var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["Signaling:MaxMessageBytes"] = maxMessage.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Signaling:RelayMessagesPerSecond"] = "1",
                ["Signaling:RelayMessageBurst"] = "1",
            },
            services =>
            {
                services.AddSingleton<TimeProvider>(time);
                // A close timeout far beyond the test: only the skipped-bytes budget can end the connection early.
                services.AddSingleton(new TransportSettings(maxMessage, 512, 1024 * 1024, TimeSpan.FromMinutes(10)));
            });
        using var disconnects = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, "pathfinder.signaling.disconnects");
        await using var receiver = await PeerClient.ConnectAsync(host.SocketUri);
        await using var flooder = await PeerClient.ConnectAsync(host.SocketUri, read: false); // never reads the close

        // Over its relay rate it is closed (1008) after RefusalsBeforeClose messages; it goes on sending regardless.
        var message = $$"""{"type":"CANDIDATE","dst":"{{receiver.Id}}","payload":"{{new string('c', maxMessage - 100)}}"}""";
        const long limit = 64L * 1024 * 1024; // far more than the socket buffers of both ends hold
        long sent = 0;
        Exception? cut = null;
        try
        {
            while (sent < limit)
            {
                await flooder.SendAsync(message);
                sent += message.Length;
            }
        }
        catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or IOException or OperationCanceledException)
        {
            cut = ex;
        }

        Assert.True(cut is not null, $"the server read all {sent:N0} bytes sent after its close instead of cutting the client");
        await disconnects.WaitForMeasurementsAsync(1).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("relay_rate", Assert.Single(disconnects.GetMeasurementSnapshot()).Tags["reason"]);
    }
}
