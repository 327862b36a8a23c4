using System.Text;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Tests;

public sealed class ProtocolUnitTests
{
    [Theory]
    [InlineData("""{"type":"OFFER","dst":"b","payload":{"a":1}}""", MessageType.Offer, "b", """{"a":1}""")]
    [InlineData("""{"payload":"x","dst":"b","type":"CANDIDATE"}""", MessageType.Candidate, "b", "\"x\"")]
    [InlineData("""{"type":"LEAVE","dst":"b"}""", MessageType.Leave, "b", "")]
    [InlineData("""{"type":"HEARTBEAT"}""", MessageType.Heartbeat, null, "")]
    [InlineData("""{"type":"offer","dst":"b"}""", MessageType.Ignored, "b", "")]
    [InlineData("""{"type":"\u004FFFER","dst":"b"}""", MessageType.Offer, "b", "")]
    [InlineData("""{"type":"OFFER","dst":5}""", MessageType.Offer, null, "")]
    [InlineData("""{"type":"OFFER","dst":""}""", MessageType.Offer, null, "")]
    [InlineData("""{"type":"OFFER","dst":"a","dst":"b","payload":1,"payload":[2]}""", MessageType.Offer, "b", "[2]")]
    [InlineData(""" { "type" : "ANSWER" , "payload" : null } """, MessageType.Answer, null, "null")]
    public void Parses_type_dst_and_the_raw_payload(string json, MessageType type, string? dst, string payload)
    {
        Assert.True(ClientMessage.TryParse(Encoding.UTF8.GetBytes(json), out var message));
        Assert.Equal(type, message.Type);
        Assert.Equal(dst, message.Dst);
        Assert.Equal(payload, Encoding.UTF8.GetString(message.Payload));
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("{")]
    [InlineData("{}{}")]
    [InlineData("{\"a\":1,}")]
    public void Rejects_what_is_not_one_json_object(string json) =>
        Assert.False(ClientMessage.TryParse(Encoding.UTF8.GetBytes(json), out _));

    [Fact]
    public void Writes_relay_frames_in_the_reference_key_order_with_escaped_ids()
    {
        var frame = RelayFrame.Write(MessageType.Answer, "a\"b", "ü", "{\"x\":[1]}"u8);
        Assert.Equal("""{"type":"ANSWER","src":"a\"b","dst":"ü","payload":{"x":[1]}}""", Encoding.UTF8.GetString(frame));
        Assert.Equal("""{"type":"EXPIRE","src":"x","dst":"s"}""", Encoding.UTF8.GetString(RelayFrame.Expire("x", "s")));
        Assert.Equal("""{"type":"LEAVE","src":"x","dst":"s"}""", Encoding.UTF8.GetString(RelayFrame.Leave("x", "s")));
        Assert.Equal("""{"type":"OFFER","src":"x\\y\u0001","dst":"ok id-1_2"}""", Encoding.UTF8.GetString(RelayFrame.Write(MessageType.Offer, "x\\y\u0001", "ok id-1_2", default)));
    }

    [Fact]
    public void Offline_queues_are_bounded_per_destination_and_in_total()
    {
        var queues = new OfflineQueues(perDestination: 2, totalBytes: 100);
        Outbound M(string src, string dst, int size) => new(MessageType.Offer, src, dst, new byte[size]);

        Assert.Equal(RouteOutcome.Queued, queues.Enqueue(M("s", "d", 10), 0));
        Assert.Equal(RouteOutcome.Queued, queues.Enqueue(M("s", "d", 10), 0));
        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(M("s", "d", 10), 0));
        Assert.Equal(RouteOutcome.Dropped, queues.Enqueue(M("s", "d", 10), 0));
        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(M("t", "d", 10), 0));

        Assert.Equal(RouteOutcome.Queued, queues.Enqueue(M("s", "e", 70), 0));
        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(M("s", "f", 20), 0));
        Assert.Equal(90, queues.Bytes);

        Assert.Equal(2, queues.Take("d").Count);
        Assert.Equal(70, queues.Bytes);
        Assert.Empty(queues.Take("d"));

        var expired = new List<ExpiredPair>();
        queues.TakeExpired(now: 10, timeoutTicks: 10, expired);
        Assert.Equal([new ExpiredPair("e", "s")], expired);
        Assert.Equal(0, queues.Bytes);
        Assert.Equal(0, queues.Destinations);
    }

    [Fact]
    public void Senders_refused_by_a_full_queue_are_not_told_again_at_expiry()
    {
        var queues = new OfflineQueues(perDestination: 1, totalBytes: 1000);
        Assert.Equal(RouteOutcome.Queued, queues.Enqueue(new Outbound(MessageType.Offer, "a", "d", new byte[1]), 0));
        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(new Outbound(MessageType.Offer, "b", "d", new byte[1]), 0));
        var expired = new List<ExpiredPair>();
        queues.TakeExpired(5, 5, expired);
        Assert.Equal([new ExpiredPair("d", "a")], expired);
    }

    [Theory]
    [InlineData("Signaling:AliveTimeout", "500")]
    [InlineData("Signaling:Port", "0")]
    [InlineData("Signaling:MaxMessageBytes", "1024")]
    [InlineData("Signaling:Key", "")]
    [InlineData("Signaling:Path", "/a?b")]
    public async Task Invalid_settings_stop_the_service_with_a_line_naming_the_setting(string setting, string value)
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(
            () => SignalingTestHost.StartAsync(new Dictionary<string, string?> { [setting] = value }));
        Assert.Contains(setting, ex.Message, StringComparison.Ordinal);
        Assert.Contains(value, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Paths_are_normalised()
    {
        Assert.Equal("/pathfinder", SignalingOptions.NormalizePath("/pathfinder/"));
        Assert.Equal("/pathfinder", SignalingOptions.NormalizePath("pathfinder"));
        Assert.Equal("", SignalingOptions.NormalizePath("/"));
    }
}
