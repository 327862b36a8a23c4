using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Tests;

public sealed class RobustnessTests
{
    public static TheoryData<byte[]> MalformedFrames() => new()
    {
        Encoding.UTF8.GetBytes("not json"),
        Encoding.UTF8.GetBytes("{\"type\":\"OFFER\",\"dst\":"),
        Encoding.UTF8.GetBytes("null"),
        Encoding.UTF8.GetBytes("42"),
        Encoding.UTF8.GetBytes("\"OFFER\""),
        Encoding.UTF8.GetBytes("true"),
        Encoding.UTF8.GetBytes("{\"type\":\"OFFER\"} trailing"),
        Encoding.UTF8.GetBytes("{\"type\":\"OFFER\",}"),
        Encoding.UTF8.GetBytes("{'type':'OFFER'}"),
        new byte[] { 0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D }, // {"\xC3(":1} invalid UTF-8
        Array.Empty<byte>(),
    };

    [Theory]
    [MemberData(nameof(MalformedFrames))]
    public async Task A_malformed_frame_is_dropped_and_counted_and_the_sender_stays_usable(byte[] frame)
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var malformed = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, "pathfinder.signaling.messages.malformed");
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);

        // Invalid UTF-8 in a TEXT frame is a WebSocket protocol error (RFC 6455 §8.1: the socket closes with 1007),
        // so that case is sent as a binary frame only.
        var validUtf8 = System.Text.Unicode.Utf8.IsValid(frame);
        if (validUtf8)
        {
            await a.SendBytesAsync(frame);
        }

        await a.SendBytesAsync(frame, WebSocketMessageType.Binary);
        await a.SendToAsync("OFFER", b.Id, "\"still here\"");

        Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{b.Id}}","payload":"still here"}""", await b.ReceiveAsync());
        Assert.Equal(validUtf8 ? 2 : 1, malformed.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public async Task A_json_array_or_an_object_without_type_is_harmless()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await a.SendAsync("[1,2,3]");
        await a.SendAsync("{}");
        await a.SendAsync("""{"type":null,"dst":null,"payload":{"deep":[[[[[]]]]]}}""");
        Assert.Empty(await a.DrainWithMarkerAsync());
    }

    [Fact]
    public async Task An_oversized_message_closes_only_its_sender()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:MaxMessageBytes"] = "131072" });
        await using var big = await PeerClient.ConnectAsync(host.SocketUri);
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);

        // Just under the limit is fine.
        var fits = $$"""{"type":"OFFER","dst":"{{b.Id}}","payload":"{{new string('f', 131072 - 100)}}"}""";
        await big.SendAsync(fits);
        Assert.Contains("ffff", await b.ReceiveAsync(), StringComparison.Ordinal);

        await big.SendAsync($$"""{"type":"OFFER","dst":"{{b.Id}}","payload":"{{new string('x', 200_000)}}"}""");
        await big.WaitForCloseAsync();
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, big.CloseStatus);

        await a.SendToAsync("OFFER", b.Id, "1");
        Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{b.Id}}","payload":1}""", await b.ReceiveAsync());
        Assert.Empty(await b.DrainWithMarkerAsync());
    }

    [Fact]
    public async Task A_slow_consumer_is_closed_the_sender_gets_leave_and_others_are_not_slowed()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Signaling:SendQueueCapacity"] = "16",
            // The receiver's queue is under test, not the sender's relay rate (issue 14): it must not refuse first.
            ["Signaling:RelayByteBurst"] = "1000000000",
        });
        using var disconnects = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, "pathfinder.signaling.disconnects");
        await using var sender = await PeerClient.ConnectAsync(host.SocketUri);
        await using var stuck = await PeerClient.ConnectAsync(host.SocketUri, read: false); // never reads
        await using var c = await PeerClient.ConnectAsync(host.SocketUri);
        await using var d = await PeerClient.ConnectAsync(host.SocketUri);

        var leave = $$"""{"type":"LEAVE","src":"{{stuck.Id}}","dst":"{{sender.Id}}"}""";
        var gotLeave = Task.Run(async () =>
        {
            while (true)
            {
                if (await sender.ReceiveAsync(TimeSpan.FromSeconds(30)) == leave)
                {
                    return;
                }
            }
        });

        var chunk = new string('s', 60_000); // under MaxMessageBytes (64 KiB by default since issue 14)
        for (var i = 0; i < 1000 && !gotLeave.IsCompleted; i++)
        {
            await sender.SendToAsync("CANDIDATE", stuck.Id, $"\"{chunk}\"");
            if (i % 50 == 0)
            {
                // Meanwhile, unrelated peers relay without delay.
                await c.SendToAsync("OFFER", d.Id, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                Assert.Equal(i, (await d.ReceiveJsonAsync(TimeSpan.FromSeconds(5))).GetProperty("payload").GetInt32());
            }
        }

        await gotLeave.WaitAsync(TimeSpan.FromSeconds(30));
        await disconnects.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(10));
        Assert.Contains(disconnects.GetMeasurementSnapshot(), m => (string?)m.Tags["reason"] == "slow_consumer");
    }

    [Fact]
    public async Task Random_garbage_never_takes_the_service_down()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var random = new Random(1234);
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        for (var i = 0; i < 300; i++)
        {
            var bytes = new byte[random.Next(0, 300)];
            random.NextBytes(bytes);
            await a.SendBytesAsync(bytes, WebSocketMessageType.Binary);
        }

        Assert.Empty(await a.DrainWithMarkerAsync());

        // Invalid UTF-8 in a text frame is a WebSocket protocol error: only that socket is closed (1007).
        await using var bad = await PeerClient.ConnectAsync(host.SocketUri);
        await bad.SendBytesAsync([0x7B, 0xC3, 0x28, 0x7D]);
        await bad.WaitForCloseAsync();
        // The server's WebSocket layer answers with 1007 and drops the connection; the client may see either.
        Assert.True(bad.CloseStatus is WebSocketCloseStatus.InvalidPayloadData or null, $"close status {bad.CloseStatus}");
        Assert.NotEqual(WebSocketState.Open, bad.Socket.State);

        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        await using var c = await PeerClient.ConnectAsync(host.SocketUri);
        await b.SendToAsync("OFFER", c.Id, "1");
        Assert.Equal($$"""{"type":"OFFER","src":"{{b.Id}}","dst":"{{c.Id}}","payload":1}""", await c.ReceiveAsync());
    }
}
