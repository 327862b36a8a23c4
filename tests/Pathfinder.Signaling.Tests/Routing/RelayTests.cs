using System.Net.WebSockets;
using System.Text;

namespace Pathfinder.Signaling.Tests;

public sealed class RelayTests
{
    [Fact]
    public async Task Relayed_message_is_rebuilt_with_the_stamped_src_and_the_payload_untouched()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var alice = await PeerClient.ConnectAsync(host.SocketUri);
        await using var bob = await PeerClient.ConnectAsync(host.SocketUri);

        const string payload = """{"sdp":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1"},"type":"data","connectionId":"dc_x1","metadata":{"name":"Zoë 🎉 \u00e9","n":[1,2.5,-3e2,true,false,null]}}""";
        await alice.SendAsync($$"""{"type":"OFFER","src":"mallory","dst":"{{bob.Id}}","payload":{{payload}},"extra":1,"dst2":"x"}""");

        var received = await bob.ReceiveAsync();
        Assert.Equal($$"""{"type":"OFFER","src":"{{alice.Id}}","dst":"{{bob.Id}}","payload":{{payload}}}""", received);
    }

    [Theory]
    [InlineData("OFFER")]
    [InlineData("ANSWER")]
    [InlineData("CANDIDATE")]
    [InlineData("LEAVE")]
    [InlineData("EXPIRE")]
    public async Task Each_relay_type_is_delivered(string type)
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        await a.SendToAsync(type, b.Id, """{"connectionId":"dc_1"}""");
        Assert.Equal($$$"""{"type":"{{{type}}}","src":"{{{a.Id}}}","dst":"{{{b.Id}}}","payload":{"connectionId":"dc_1"}}""", await b.ReceiveAsync());
    }

    [Theory]
    [InlineData(null, "")]
    [InlineData("null", ",\"payload\":null")]
    [InlineData("0", ",\"payload\":0")]
    [InlineData("\"text ü\"", ",\"payload\":\"text ü\"")]
    [InlineData("[1,{\"a\":[]}]", ",\"payload\":[1,{\"a\":[]}]")]
    [InlineData("\"\\u00e9\\n\"", ",\"payload\":\"\\u00e9\\n\"")]
    public async Task Payload_is_omitted_when_absent_and_passed_through_as_any_json(string? payload, string expectedTail)
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        await a.SendToAsync("CANDIDATE", b.Id, payload);
        Assert.Equal($$"""{"type":"CANDIDATE","src":"{{a.Id}}","dst":"{{b.Id}}"{{expectedTail}}}""", await b.ReceiveAsync());
    }

    [Fact]
    public async Task Binary_frames_holding_json_are_relayed()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        await a.SendAsync($$$"""{"type":"ANSWER","dst":"{{{b.Id}}}","payload":{"k":"v"}}""", WebSocketMessageType.Binary);
        Assert.Equal($$$"""{"type":"ANSWER","src":"{{{a.Id}}}","dst":"{{{b.Id}}}","payload":{"k":"v"}}""", await b.ReceiveAsync());
    }

    [Fact]
    public async Task Heartbeat_and_unknown_types_are_not_relayed_and_the_connection_stays_usable()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        foreach (var type in new[] { "HEARTBEAT", "offer", "OPEN", "ERROR", "ID-TAKEN", "SOMETHING" })
        {
            await a.SendToAsync(type, b.Id, "{}");
        }

        await a.SendAsync($$"""{"dst":"{{b.Id}}","payload":1}""");
        await a.SendAsync($$"""{"type":5,"dst":"{{b.Id}}"}""");
        await a.SendAsync("""{"type":"OFFER","payload":1}""");
        await a.SendAsync("""{"type":"OFFER","dst":"","payload":1}""");
        await a.SendToAsync("OFFER", b.Id, "\"sentinel\"");

        Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{b.Id}}","payload":"sentinel"}""", await b.ReceiveAsync());
        Assert.Empty(await a.DrainWithMarkerAsync());
        Assert.Empty(await b.DrainWithMarkerAsync());
    }

    [Fact]
    public async Task Order_per_sender_and_receiver_is_preserved()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        const int count = 400;
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await a.SendToAsync("CANDIDATE", b.Id, $$"""{"seq":{{i}}}""");
            }
        });

        for (var i = 0; i < count; i++)
        {
            var message = await b.ReceiveJsonAsync();
            Assert.Equal(i, message.GetProperty("payload").GetProperty("seq").GetInt32());
        }

        await sending;
    }

    [Fact]
    public async Task A_message_to_oneself_is_delivered_back()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await a.SendToAsync("OFFER", a.Id, "42");
        Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{a.Id}}","payload":42}""", await a.ReceiveAsync());
    }

    [Fact]
    public async Task Ids_with_json_special_characters_are_refused_so_they_never_reach_a_relayed_frame()
    {
        // Ids follow the PeerJS client's rule (FieldRulesTests): quotes and backslashes never get an id.
        await using var host = await SignalingTestHost.StartAsync();
        var odd = "q\"uote\\back" + Guid.NewGuid().ToString("N")[..6];
        await using var a = await PeerClient.OpenAsync(host.SocketUri, odd);
        var frames = await a.WaitForCloseAsync();
        Assert.StartsWith("""{"type":"ERROR","payload":{"msg":"Invalid id provided""", Assert.Single(frames), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_large_sdp_sized_message_is_relayed_intact()
    {
        // MaxMessageBytes defaults to 64 KiB now (issue 14); 120 KiB keeps this test on frames with a 64-bit length.
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:MaxMessageBytes"] = "131072" });
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        var big = new string('x', 120 * 1024);
        await a.SendToAsync("OFFER", b.Id, $"\"{big}\"");
        var received = await b.ReceiveAsync();
        Assert.EndsWith($"\"payload\":\"{big}\"}}", received, StringComparison.Ordinal);
        Assert.Equal(Encoding.UTF8.GetByteCount(received), received.Length);
    }
}
