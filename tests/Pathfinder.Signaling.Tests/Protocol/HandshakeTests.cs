using System.Net.WebSockets;

namespace Pathfinder.Signaling.Tests;

public sealed class HandshakeTests
{
    private const string NoParams = """{"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}}""";
    private const string InvalidKey = """{"type":"ERROR","payload":{"msg":"Invalid key provided"}}""";
    private const string Limit = """{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}""";
    private const string IdTaken = """{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}""";

    private static async Task AssertRejectedAsync(PeerClient client, string expected)
    {
        var frames = await client.WaitForCloseAsync();
        Assert.Equal([expected], frames);
        Assert.Equal(WebSocketState.Closed, client.Socket.State);
        // A normal closure: never the reserved 1005, which browsers treat as a broken close frame.
        Assert.Equal(WebSocketCloseStatus.NormalClosure, client.CloseStatus);
    }

    [Theory]
    [InlineData(null, "tok", "pathfinder")]
    [InlineData("", "tok", "pathfinder")]
    [InlineData("id", null, "pathfinder")]
    [InlineData("id", "", "pathfinder")]
    [InlineData("id", "tok", null)]
    [InlineData("id", "tok", "")]
    [InlineData(null, "tok", "wrong-key")]
    public async Task Missing_parameters_are_an_in_band_error_checked_before_the_key(string? id, string? token, string? key)
    {
        await using var host = await SignalingTestHost.StartAsync();
        var uri = PeerClient.BuildUri(host.SocketUri, key, id is null ? null : id + Guid.NewGuid().ToString("N"), token);
        if (id == string.Empty)
        {
            uri = PeerClient.BuildUri(host.SocketUri, key, string.Empty, token);
        }

        await using var client = await PeerClient.OpenAsync(host.SocketUri, id, token, key, rawUri: uri);
        await AssertRejectedAsync(client, NoParams);
    }

    [Theory]
    [InlineData("wrong")]
    [InlineData("Pathfinder")]
    [InlineData("pathfinder ")]
    public async Task Wrong_key_is_an_in_band_error(string key)
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var client = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), key: key);
        await AssertRejectedAsync(client, InvalidKey);
    }

    [Fact]
    public async Task Open_is_the_first_frame()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var client = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId());
        Assert.Equal("""{"type":"OPEN"}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task A_taken_id_is_refused_and_the_holder_is_unaffected()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var id = PeerClient.NewId();
        await using var holder = await PeerClient.ConnectAsync(host.SocketUri, id, token: "owner");
        await using var intruder = await PeerClient.OpenAsync(host.SocketUri, id, token: "intruder");
        await AssertRejectedAsync(intruder, IdTaken);

        Assert.Empty(await holder.DrainWithMarkerAsync());
        Assert.Equal(WebSocketState.Open, holder.Socket.State);
    }

    [Fact]
    public async Task Same_id_and_token_takes_over_gets_open_and_the_old_socket_is_closed()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var id = PeerClient.NewId();
        await using var old = await PeerClient.ConnectAsync(host.SocketUri, id, token: "same");
        await using var fresh = await PeerClient.ConnectAsync(host.SocketUri, id, token: "same");

        await old.WaitForCloseAsync();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, old.CloseStatus);

        // The superseded socket's close must not evict the new registration: messages still reach the new one.
        await using var sender = await PeerClient.ConnectAsync(host.SocketUri);
        await sender.SendToAsync("OFFER", id, """{"n":1}""");
        var received = await fresh.ReceiveJsonAsync();
        Assert.Equal(sender.Id, received.GetProperty("src").GetString());
        Assert.Empty(await fresh.DrainWithMarkerAsync());
    }

    [Fact]
    public async Task Concurrent_claims_of_one_id_have_exactly_one_winner()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var id = PeerClient.NewId();
        const int contenders = 12;
        var clients = await Task.WhenAll(Enumerable.Range(0, contenders)
            .Select(i => PeerClient.OpenAsync(host.SocketUri, id, token: $"t{i}")));
        try
        {
            var firsts = await Task.WhenAll(clients.Select(c => c.ReceiveAsync()));
            Assert.Equal(1, firsts.Count(f => f == """{"type":"OPEN"}"""));
            Assert.Equal(contenders - 1, firsts.Count(f => f == IdTaken));
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Concurrent_limit_refuses_new_ids_only()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:ConcurrentLimit"] = "2" });
        var first = PeerClient.NewId();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri, first, token: "ta");
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        await using var c = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId());
        await AssertRejectedAsync(c, Limit);

        // A taken id is reported as taken, not as the limit (check order: id before limit).
        await using var d = await PeerClient.OpenAsync(host.SocketUri, first, token: "other");
        await AssertRejectedAsync(d, IdTaken);

        // The owner reconnecting is not a new id: the limit does not apply.
        await using var again = await PeerClient.ConnectAsync(host.SocketUri, first, token: "ta");
    }

    [Fact]
    public async Task Query_values_are_percent_decoded()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var id = "my peer " + Guid.NewGuid().ToString("N")[..8];
        await using var spaced = await PeerClient.ConnectAsync(host.SocketUri, id, token: "a.b~c_d-e");
        await using var other = await PeerClient.ConnectAsync(host.SocketUri);
        await other.SendToAsync("OFFER", id, "1");
        var received = await spaced.ReceiveJsonAsync();
        Assert.Equal(id, received.GetProperty("dst").GetString());

        await spaced.SendToAsync("ANSWER", other.Id, "2");
        var answer = await other.ReceiveJsonAsync();
        Assert.Equal(id, answer.GetProperty("src").GetString());

        // Same decoded token: a take-over, not ID-TAKEN.
        await using var again = await PeerClient.ConnectAsync(host.SocketUri, id, token: "a.b~c_d-e");
    }

    [Fact]
    public async Task Plus_in_the_raw_query_means_space_and_the_last_duplicate_wins()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var raw = new Uri($"{host.SocketUri}?key=wrong&id=first&token=t&key=pathfinder&id=a+b{suffix}");
        await using var client = await PeerClient.OpenAsync(host.SocketUri, null, rawUri: raw);
        Assert.Equal("""{"type":"OPEN"}""", await client.ReceiveAsync());
        await using var other = await PeerClient.ConnectAsync(host.SocketUri);
        await other.SendToAsync("OFFER", "a b" + suffix, "1");
        Assert.Equal(other.Id, (await client.ReceiveJsonAsync()).GetProperty("src").GetString());
    }

    [Fact]
    public async Task Permessage_deflate_offers_are_handled()
    {
        await using var host = await SignalingTestHost.StartAsync();
        void Deflate(ClientWebSocketOptions o) => o.DangerousDeflateOptions = new WebSocketDeflateOptions();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri, configure: Deflate);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri, configure: Deflate);
        await a.SendToAsync("OFFER", b.Id, """{"sdp":"v=0"}""");
        var received = await b.ReceiveJsonAsync();
        Assert.Equal("v=0", received.GetProperty("payload").GetProperty("sdp").GetString());
    }

    [Fact]
    public async Task Trailing_slash_on_the_socket_path_is_not_the_socket()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var uri = new Uri(PeerClient.BuildUri(host.SocketUri, "pathfinder", "x", "y").ToString().Replace("/peerjs?", "/peerjs/?", StringComparison.Ordinal));
        using var socket = new ClientWebSocket();
        using var cts = new CancellationTokenSource(PeerClient.DefaultTimeout);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(uri, cts.Token));
    }

    [Fact]
    public async Task Id_from_the_api_is_accepted_on_the_socket()
    {
        await using var host = await SignalingTestHost.StartAsync();
        using var http = new HttpClient();
        var id = await http.GetStringAsync(new Uri(host.HttpBase, "/pathfinder/pathfinder/id"));
        await using var client = await PeerClient.ConnectAsync(host.SocketUri, id);
        Assert.Empty(await client.DrainWithMarkerAsync());
    }
}
