using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Pathfinder.Signaling.Telemetry;
using Pathfinder.Signaling.Transport;
using Xunit.Abstractions;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Issue 14, item 1: each peer's send queue is bounded in bytes as well as frames, control-frame replies included,
/// and a peer over its budget is closed with 1008 and a log event.
/// </summary>
public sealed class SendQueueBudgetTests(ITestOutputHelper output)
{
    private const int SendQueueOverBudgetEvent = 200;

    [Fact]
    public async Task A_client_that_pings_and_never_reads_holds_at_most_one_pong_and_gets_the_latest()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var connection = await OpenRawPeerAsync(host, PeerClient.NewId("pinger"));

        // 100,000 pings of 125 bytes: 12.5 MB of pongs if every ping were answered, far more than the socket
        // buffers hold while the client does not read. They are written in batches; the server keeps reading them.
        const int Pings = 100_000;
        const int PerWrite = 1_000;
        var ping = ClientFrames.Ping(new string('p', 125));
        var batch = new byte[ping.Length * PerWrite];
        for (var i = 0; i < PerWrite; i++)
        {
            ping.CopyTo(batch, i * ping.Length);
        }

        for (var sent = 0; sent < Pings; sent += PerWrite)
        {
            await connection.WriteAsync(batch);
        }

        await connection.WriteAsync(ClientFrames.Ping("last"));

        // Now the client reads: the pongs in flight, then the answer to the most recent ping.
        var pongs = 0;
        while (true)
        {
            var frame = await connection.ReadFrameAsync();
            Assert.Equal(FrameOpcode.Pong, frame.Opcode);
            if (frame.Text == "last")
            {
                break;
            }

            Assert.Equal(125, frame.Payload.Length);
            pongs++;
        }

        // Before: every ping was answered (100,000 pongs queued in memory). Now a pong waits only while the
        // previous one is on its way: what the client gets is what the socket buffers held.
        output.WriteLine($"{pongs} pongs for {Pings} pings");
        Assert.True(pongs < Pings / 4, $"{pongs} pongs for {Pings} pings");

        // Still open and served.
        await connection.WriteAsync(ClientFrames.Ping("again"));
        var again = await connection.ReadFrameAsync();
        Assert.Equal((FrameOpcode.Pong, "again"), (again.Opcode, again.Text));
    }

    [Fact]
    public async Task A_receiver_that_does_not_read_is_closed_with_1008_once_its_queue_is_over_its_byte_budget()
    {
        const int Budget = 64 * 1024;
        await using var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["Signaling:MaxMessageBytes"] = "16384",
                ["Signaling:SendQueueBytes"] = Budget.ToString(CultureInfo.InvariantCulture),
                // This test is about the receiver's budget: the sender's relay rate must not stop it first.
                ["Signaling:RelayMessageBurst"] = "1000000",
                ["Signaling:RelayByteBurst"] = "1000000000",
            },
            configureLogging: logging => logging.AddFakeLogging());
        using var disconnects = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, "pathfinder.signaling.disconnects");
        await using var sender = await PeerClient.ConnectAsync(host.SocketUri, PeerClient.NewId("sender"));
        await using var paused = await PeerClient.ConnectAsync(host.SocketUri, PeerClient.NewId("paused"), read: false);

        // The sender learns that the receiver is gone from the LEAVE its next message gets.
        var leave = $$"""{"type":"LEAVE","src":"{{paused.Id}}","dst":"{{sender.Id}}"}""";
        var gotLeave = Task.Run(async () =>
        {
            while (await sender.ReceiveAsync(TimeSpan.FromSeconds(30)) != leave)
            {
            }
        });

        var payload = $"\"{new string('o', 15_000)}\"";
        var sent = 0;
        for (; sent < 5_000 && !gotLeave.IsCompleted; sent++)
        {
            await sender.SendToAsync("OFFER", paused.Id, payload);
        }

        await gotLeave.WaitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"{sent} OFFERs sent before the LEAVE");

        // The receiver reads at last: what the socket held, then our close frame.
        await paused.WaitForCloseAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, paused.CloseStatus);
        Assert.Equal("Send queue over budget", paused.Socket.CloseStatusDescription);

        var logged = Assert.Single(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == SendQueueOverBudgetEvent);
        Assert.Equal(LogLevel.Warning, logged.Level);
        Assert.Contains(paused.Id, logged.Message, StringComparison.Ordinal);
        var queued = long.Parse(logged.GetStructuredStateValue("QueuedBytes")!, CultureInfo.InvariantCulture);
        Assert.InRange(queued, Budget + 1, Budget + 16 * 1024);
        Assert.Equal(Budget.ToString(CultureInfo.InvariantCulture), logged.GetStructuredStateValue("BudgetBytes"));

        await disconnects.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(10));
        Assert.Contains(disconnects.GetMeasurementSnapshot(), m => (string?)m.Tags["reason"] == "slow_consumer");

        // The sender is not blamed: it stays open and is served.
        await using var other = await PeerClient.ConnectAsync(host.SocketUri);
        await sender.SendToAsync("OFFER", other.Id, "1");
        Assert.Equal($$"""{"type":"OFFER","src":"{{sender.Id}}","dst":"{{other.Id}}","payload":1}""", await other.ReceiveAsync());
    }

    /// <summary>Upgrades a raw TCP connection (the client writes frames by hand) and reads OPEN.</summary>
    internal static async Task<RawConnection> OpenRawPeerAsync(SignalingTestHost host, string id)
    {
        var connection = await RawConnection.OpenAsync(host);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var head =
            $"GET {host.Path}/peerjs?key={SignalingTestHost.DefaultKey}&id={id}&token=tok&version=1.5.5 HTTP/1.1\r\n"
            + $"Host: {host.HttpBase.Authority}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n";
        await connection.WriteAsync(Encoding.ASCII.GetBytes(head));
        Assert.Equal("HTTP/1.1 101 Switching Protocols", (await connection.ReadResponseHeadAsync()).StatusLine);
        Assert.Equal("""{"type":"OPEN"}""", (await connection.ReadFrameAsync()).Text);
        return connection;
    }
}
