using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Pathfinder.Signaling.Routing;
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

    [Fact]
    public async Task Queued_bytes_count_until_their_flush_completes_one_pong_waits_and_nothing_is_left_when_the_connection_ends()
    {
        await using var host = await SignalingTestHost.StartAsync();
        const int Budget = 16 * 1024;
        var input = new Pipe();
        // The "socket": it takes 1 KiB before a flush has to wait for the client to read.
        var output = new Pipe(new PipeOptions(pauseWriterThreshold: 1024, resumeWriterThreshold: 512, useSynchronizationContext: false));
        var logger = new FakeLogger();
        var services = new PeerConnectionServices(
            host.Services.GetRequiredService<PeerRouter>(),
            new TransportSettings(MaxMessageBytes: Budget, SendQueueCapacity: 512, SendQueueBytes: Budget, CloseTimeout: TimeSpan.FromSeconds(30)),
            host.Services.GetRequiredService<SignalingMetrics>(),
            logger);
        var connection = new PeerConnection(
            new AcceptedSocket(new TestPipe(input.Reader, output.Writer), () => { }),
            "odd\nid\u001b[31m", "tok", "127.0.0.1", new ClientSocketLimiter(0).TryAcquire("127.0.0.1"), services);
        var run = connection.RunAsync();
        var client = new ServerFrames(output.Reader);

        // Under the output's threshold a frame is written and flushed at once: nothing waits.
        Assert.True(connection.TrySend(new byte[100]));
        Assert.Equal(0, connection.QueuedBytes);

        // Past it the flush waits for the client: the frame counts until then, and so does what queues behind it.
        Assert.True(connection.TrySend(new byte[2_000]));
        Assert.Equal(2_000, connection.QueuedBytes);

        // A thousand pings meanwhile leave one pong waiting: the latest.
        var pings = Enumerable.Repeat(ClientFrames.Ping(new string('p', 125)), 1_000).Append(ClientFrames.Ping("last"));
        await input.Writer.WriteAsync(pings.SelectMany(frame => frame).ToArray());
        await PollAsync(() => connection.QueuedBytes == 2_000 + "last".Length);
        Assert.True(connection.TrySend(new byte[3_000]));
        Assert.Equal(5_004, connection.QueuedBytes);

        // The client reads: everything goes out, one pong among it, and nothing counts any more.
        Assert.Equal(
            [(FrameOpcode.Text, 100), (FrameOpcode.Text, 2_000), (FrameOpcode.Text, 3_000), (FrameOpcode.Pong, 4)],
            (await client.ReadAsync(4)).Select(f => (f.Opcode, f.Payload.Length)));
        await PollAsync(() => connection.QueuedBytes == 0);

        // Over the budget (3,000 waiting + 15,000 > 16 KiB): refused and closed with 1008; the queue is dropped.
        Assert.True(connection.TrySend(new byte[2_000]));
        Assert.True(connection.TrySend(new byte[1_000]));
        Assert.Equal(3_000, connection.QueuedBytes);
        Assert.False(connection.TrySend(new byte[15_000]));
        Assert.True(connection.IsClosing);
        Assert.Equal(2_000, connection.QueuedBytes); // in the output, its flush pending; the queued 1,000 are gone

        var frames = await client.ReadAsync(2);
        Assert.Equal((FrameOpcode.Text, 2_000), (frames[0].Opcode, frames[0].Payload.Length));
        Assert.Equal(FrameOpcode.Close, frames[1].Opcode);
        Assert.Equal((int)WebSocketCloseStatus.PolicyViolation, BinaryPrimitives.ReadUInt16BigEndian(frames[1].Payload));
        Assert.Equal("Send queue over budget", Encoding.UTF8.GetString(frames[1].Payload.AsSpan(2)));

        // The client answers the close: the connection ends with nothing counted.
        await input.Writer.WriteAsync(ClientFrames.Close(1000));
        await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, connection.QueuedBytes);
        Assert.False(connection.TrySend(new byte[10]));
        Assert.Equal(DisconnectReason.SlowConsumer, connection.CloseReason);

        var logged = Assert.Single(logger.Collector.GetSnapshot(), r => r.Id.Id == SendQueueOverBudgetEvent);
        Assert.Equal("18000", logged.GetStructuredStateValue("QueuedBytes"));
        Assert.Equal("2", logged.GetStructuredStateValue("QueuedFrames"));
        Assert.Equal(@"odd\nid\u001b[31m", logged.GetStructuredStateValue("PeerId"));
        Assert.DoesNotContain(logged.Message, char.IsControl);
    }

    private static Task PollAsync(Func<bool> condition) =>
        Poll.AssertAsync(condition, TimeSpan.FromSeconds(10), "condition not met", TimeSpan.FromMilliseconds(5));

    private sealed class TestPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }

    /// <summary>Reads the server's (unmasked) frames from the output pipe, as a client would.</summary>
    private sealed class ServerFrames(PipeReader reader)
    {
        private readonly List<byte> _bytes = [];

        public async Task<List<(FrameOpcode Opcode, byte[] Payload)>> ReadAsync(int count)
        {
            var frames = new List<(FrameOpcode, byte[])>();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (frames.Count < count)
            {
                if (TryParse(out var frame))
                {
                    frames.Add(frame);
                    continue;
                }

                var result = await reader.ReadAsync(cts.Token);
                _bytes.AddRange(result.Buffer.ToArray());
                reader.AdvanceTo(result.Buffer.End);
            }

            return frames;
        }

        private bool TryParse(out (FrameOpcode, byte[]) frame)
        {
            frame = default;
            if (_bytes.Count < 2)
            {
                return false;
            }

            var (header, length) = (_bytes[1] & 0x7F) switch
            {
                126 when _bytes.Count >= 4 => (4, (_bytes[2] << 8) | _bytes[3]),
                126 => (-1, 0),
                127 => throw new InvalidOperationException("no frame here is that large"),
                var small => (2, small),
            };
            if (header < 0 || _bytes.Count < header + length)
            {
                return false;
            }

            frame = ((FrameOpcode)(_bytes[0] & 0x0F), _bytes.GetRange(header, length).ToArray());
            _bytes.RemoveRange(0, header + length);
            return true;
        }
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
