using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// The PeerJS upgrade fast path: <see cref="UpgradeRequest.TryParse"/> on raw request heads, and
/// <see cref="PeerJsUpgradeFastPath"/> end to end over a raw TCP connection to the real service, which shows which
/// way a connection went: the fast path's 101 has no Date or Server header, Kestrel's HTTP stack's has both.
/// </summary>
public sealed class UpgradeFastPathTests
{
    private const string SampleKey = "dGhlIHNhbXBsZSBub25jZQ==";

    private static readonly byte[] Prefix = UpgradeRequest.RequestLinePrefix("/pathfinder/peerjs");

    private static readonly string[] BrowserHeaders =
    [
        "Host: localhost:9000",
        "Connection: Upgrade",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Upgrade: websocket",
        "Origin: https://grafana.example.com",
        "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br, zstd",
        "Accept-Language: en-US,en;q=0.9",
        "Sec-WebSocket-Key: " + SampleKey,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ];

    private const string BrowserTarget = "/pathfinder/peerjs?key=pathfinder&id=peer-1&token=tok1&version=1.5.5";

    /// <summary>A request head: request line, header lines, blank line (Latin-1, so any byte can be written).</summary>
    private static byte[] Head(string requestLine, IEnumerable<string> headers) =>
        Encoding.Latin1.GetBytes(requestLine + "\r\n" + string.Concat(headers.Select(h => h + "\r\n")) + "\r\n");

    /// <summary>The browser's head with one header removed (by name) and/or lines added at the end.</summary>
    private static byte[] BrowserHead(string requestLine = $"GET {BrowserTarget} HTTP/1.1", string? remove = null, string? add = null)
    {
        var headers = BrowserHeaders
            .Where(h => remove is null || !h.StartsWith(remove + ":", StringComparison.OrdinalIgnoreCase))
            .ToList();
        if (add is not null)
        {
            headers.AddRange(add.Split('|'));
        }

        return Head(requestLine, headers);
    }

    private static UpgradeHead Parse(byte[] bytes, out UpgradeRequest? request, out int headLength) =>
        UpgradeRequest.TryParse(new ReadOnlySequence<byte>(bytes), Prefix, out request, out headLength);

    private static UpgradeHead Parse(byte[] bytes) => Parse(bytes, out _, out _);

    // ---- UpgradeRequest.TryParse ----------------------------------------------------------------------------------

    [Fact]
    public void A_browser_upgrade_is_ours_with_its_parameters_and_origin()
    {
        var head = BrowserHead();

        Assert.Equal(UpgradeHead.Ours, Parse(head, out var request, out var headLength));

        Assert.NotNull(request);
        Assert.Equal(head.Length, headLength);
        Assert.Equal(("pathfinder", "peer-1", "tok1"), (request.Key, request.Id, request.Token));
        Assert.Equal("https://grafana.example.com", request.Origin);
        Assert.Equal(SampleKey, request.WebSocketKey);
    }

    [Fact]
    public void Query_values_are_decoded_and_the_last_duplicate_wins()
    {
        var head = BrowserHead("GET /pathfinder/peerjs?id=first&key=k%31&token=a+b%20c&id=peer%2D%C3%A9&key=path%66inder&other=%zz HTTP/1.1");

        Assert.Equal(UpgradeHead.Ours, Parse(head, out var request, out _));

        Assert.Equal(("pathfinder", "peer-é", "a b c"), (request!.Key, request.Id, request.Token));
    }

    [Fact]
    public void Without_a_query_or_an_origin_it_is_still_ours_with_nothing_set()
    {
        var head = BrowserHead("GET /pathfinder/peerjs HTTP/1.1", remove: "Origin");

        Assert.Equal(UpgradeHead.Ours, Parse(head, out var request, out _));

        Assert.Equal((null, null, null, null), (request!.Key, request.Id, request.Token, request.Origin));
    }

    [Fact]
    public void The_head_length_stops_at_the_blank_line_when_frames_follow_it()
    {
        var head = BrowserHead();
        var bytes = ClientFrames.Concat(head, ClientFrames.Ping("early"));

        Assert.Equal(UpgradeHead.Ours, Parse(bytes, out _, out var headLength));

        Assert.Equal(head.Length, headLength);
    }

    [Fact]
    public void A_head_split_over_many_segments_is_parsed()
    {
        var head = BrowserHead();
        var buffer = ByteSequences.Split(head, 7);

        Assert.Equal(UpgradeHead.Ours, UpgradeRequest.TryParse(buffer, Prefix, out var request, out var headLength));
        Assert.Equal(head.Length, headLength);
        Assert.Equal("peer-1", request!.Id);
    }

    [Fact]
    public void Every_partial_head_is_incomplete()
    {
        var head = BrowserHead();
        for (var length = 0; length < head.Length; length++)
        {
            Assert.True(Parse(head[..length]) == UpgradeHead.Incomplete, $"{length} bytes: {Encoding.Latin1.GetString(head[..length])}");
        }
    }

    [Theory]
    [InlineData("P")]
    [InlineData("GET /health")]
    [InlineData("GET /pathfinder/pathfinder/id")]
    [InlineData("GET /pathfinder/peerjsx")]
    [InlineData("GET /pathfinder/peerjs/")]
    [InlineData("get /pathfinder/peerjs")]
    [InlineData("\x16\x03\x01")] // a TLS ClientHello
    [InlineData("PRI * HTTP/2.0")]
    public void The_first_bytes_of_another_request_are_not_ours_at_once(string start) =>
        Assert.Equal(UpgradeHead.NotOurs, Parse(Encoding.Latin1.GetBytes(start)));

    [Theory]
    [InlineData("Connection: keep-alive, Upgrade")]
    [InlineData("Connection: Upgrade, keep-alive")]
    [InlineData("connection:upgrade")]
    [InlineData("CONNECTION: \t UPGRADE \t")]
    public void Connection_only_has_to_contain_the_upgrade_token(string connection) =>
        Assert.Equal(UpgradeHead.Ours, Parse(BrowserHead(remove: "Connection", add: connection)));

    [Theory]
    [InlineData("Upgrade: WebSocket")]
    [InlineData("upgrade: h2c, websocket")]
    public void Upgrade_only_has_to_contain_the_websocket_token(string upgrade) =>
        Assert.Equal(UpgradeHead.Ours, Parse(BrowserHead(remove: "Upgrade", add: upgrade)));

    [Theory]
    [InlineData("another path", "GET /pathfinder/peerjsx?key=pathfinder HTTP/1.1", null, null)]
    [InlineData("trailing slash", "GET /pathfinder/peerjs/ HTTP/1.1", null, null)]
    [InlineData("trailing slash and query", "GET /pathfinder/peerjs/?key=pathfinder HTTP/1.1", null, null)]
    [InlineData("another base path", "GET /other/peerjs?key=pathfinder HTTP/1.1", null, null)]
    [InlineData("absolute form", "GET http://localhost:9000/pathfinder/peerjs?key=pathfinder HTTP/1.1", null, null)]
    [InlineData("POST", "POST " + BrowserTarget + " HTTP/1.1", null, null)]
    [InlineData("HEAD", "HEAD " + BrowserTarget + " HTTP/1.1", null, null)]
    [InlineData("HTTP/1.0", "GET " + BrowserTarget + " HTTP/1.0", null, null)]
    [InlineData("HTTP/2.0", "GET " + BrowserTarget + " HTTP/2.0", null, null)]
    [InlineData("no version", "GET " + BrowserTarget, null, null)]
    [InlineData("space in the target", "GET /pathfinder/peerjs?key=a b HTTP/1.1", null, null)]
    [InlineData("fragment", "GET /pathfinder/peerjs?key=pathfinder#x HTTP/1.1", null, null)]
    [InlineData("control byte in the target", "GET /pathfinder/peerjs?key=a\u0001 HTTP/1.1", null, null)]
    [InlineData("non-ASCII byte in the target", "GET /pathfinder/peerjs?key=\u00e9 HTTP/1.1", null, null)]
    [InlineData("escaped parameter name", "GET /pathfinder/peerjs?%6Bey=pathfinder&id=a&token=b HTTP/1.1", null, null)]
    [InlineData("missing Host", null, "Host", null)]
    [InlineData("duplicate Host", null, null, "Host: other.example")]
    [InlineData("missing Sec-WebSocket-Key", null, "Sec-WebSocket-Key", null)]
    [InlineData("duplicate Sec-WebSocket-Key", null, null, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==")]
    [InlineData("short Sec-WebSocket-Key", null, "Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAA")]
    [InlineData("Sec-WebSocket-Key not base64", null, "Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==")]
    [InlineData("Sec-WebSocket-Key of 17 bytes", null, "Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("version 8", null, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")]
    [InlineData("versions 13 and 8", null, "Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8")]
    [InlineData("duplicate version", null, null, "Sec-WebSocket-Version: 13")]
    [InlineData("missing version", null, "Sec-WebSocket-Version", null)]
    [InlineData("missing Upgrade", null, "Upgrade", null)]
    [InlineData("Upgrade without websocket", null, "Upgrade", "Upgrade: h2c")]
    [InlineData("Upgrade: websockets", null, "Upgrade", "Upgrade: websockets")]
    [InlineData("missing Connection", null, "Connection", null)]
    [InlineData("Connection without upgrade", null, "Connection", "Connection: keep-alive")]
    [InlineData("Connection: upgraded", null, "Connection", "Connection: upgraded")]
    [InlineData("duplicate Origin", null, null, "Origin: https://evil.example.org")]
    [InlineData("X-Forwarded-For", null, null, "X-Forwarded-For: 198.51.100.1")]
    [InlineData("x-forwarded-proto", null, null, "x-forwarded-proto: https")]
    [InlineData("X-Forwarded-Host", null, null, "X-Forwarded-Host: example.com")]
    [InlineData("Forwarded", null, null, "Forwarded: for=198.51.100.1")]
    [InlineData("Content-Length", null, null, "Content-Length: 0")]
    [InlineData("Transfer-Encoding", null, null, "Transfer-Encoding: chunked")]
    [InlineData("obs-fold with spaces", null, null, "X-Folded: a|  b")]
    [InlineData("obs-fold with a tab", null, null, "X-Folded: a|\tb")]
    [InlineData("header line without a colon", null, null, "Nonsense")]
    [InlineData("header line starting with a colon", null, null, ": value")]
    [InlineData("space before the colon", null, "Host", "Host : localhost")]
    [InlineData("non-ASCII byte in a header value", null, null, "X-Name: caf\u00e9")]
    [InlineData("DEL in a header value", null, null, "X-Name: a\u007Fb")]
    [InlineData("control byte in a header value", null, null, "X-Name: a\u0001b")]
    [InlineData("bare CR in a header value", null, null, "X-Name: a\rb")]
    [InlineData("bare LF in a header value", null, null, "X-Name: a\nX-Forwarded-For: 198.51.100.1")]
    public void Anything_but_a_plain_upgrade_is_left_to_kestrel(string because, string? requestLine, string? remove, string? add)
    {
        Assert.Equal(UpgradeHead.Ours, Parse(BrowserHead()));
        var head = BrowserHead(requestLine ?? $"GET {BrowserTarget} HTTP/1.1", remove, add);

        var result = Parse(head, out var request, out _);

        Assert.True(result == UpgradeHead.NotOurs, $"{because}: {result}");
        Assert.Null(request);
    }

    [Fact]
    public void A_header_name_with_a_non_ascii_byte_is_left_to_kestrel() =>
        Assert.Equal(UpgradeHead.NotOurs, Parse(BrowserHead(add: "X-Caf\u00e9: 1")));

    [Fact]
    public void A_head_with_bare_lf_line_endings_is_left_to_kestrel()
    {
        var head = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(BrowserHead()).Replace("\r\n", "\n", StringComparison.Ordinal));
        Assert.Equal(UpgradeHead.NotOurs, Parse(head));
    }

    [Fact]
    public void A_head_that_never_ends_is_not_ours_once_over_kestrels_limit()
    {
        var start = Encoding.ASCII.GetBytes($"GET {BrowserTarget} HTTP/1.1\r\nHost: x\r\nX-Long: ");
        var bytes = ClientFrames.Concat(start, Enumerable.Repeat((byte)'a', UpgradeRequest.MaxHeadBytes).ToArray());

        Assert.Equal(UpgradeHead.Incomplete, Parse(bytes[..UpgradeRequest.MaxHeadBytes]));
        Assert.Equal(UpgradeHead.NotOurs, Parse(bytes));
    }

    [Fact]
    public void The_accept_key_is_the_rfc_6455_sample()
    {
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", UpgradeRequest.AcceptKey(SampleKey));
        Assert.True(UpgradeRequest.IsValidKey(SampleKey));
    }

    // ---- End to end over a raw TCP connection ---------------------------------------------------------------------

    private static Task<SignalingTestHost> StartAsync(Dictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?> { ["Signaling:Cluster:ReplicaId"] = "replica-fast" };
        foreach (var (key, value) in settings ?? [])
        {
            values[key] = value;
        }

        return SignalingTestHost.StartAsync(values);
    }

    /// <summary>What a client's upgrade request looks like on the wire, with its key and the answer it expects.</summary>
    private sealed record UpgradeBytes(byte[] Bytes, string Id, string ExpectedAccept);

    private static UpgradeBytes Upgrade(SignalingTestHost host, string? id = null, params string[] extraHeaders)
    {
        id ??= PeerClient.NewId();
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var headers = new List<string>
        {
            $"Host: {host.HttpBase.Authority}",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            $"Sec-WebSocket-Key: {key}",
        };
        headers.AddRange(extraHeaders);
        var bytes = Head($"GET {host.Path}/peerjs?key={SignalingTestHost.DefaultKey}&id={id}&token=tok&version=1.5.5 HTTP/1.1", headers);

        // Computed here, not with the code under test.
#pragma warning disable CA5350 // RFC 6455 specifies SHA-1 for the handshake.
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
        return new UpgradeBytes(bytes, id, accept);
    }

    private static void AssertFastPath101(RawConnection.Response response, UpgradeBytes upgrade)
    {
        Assert.Equal("HTTP/1.1 101 Switching Protocols", response.StatusLine);
        Assert.Null(response.Header("Server"));
        Assert.Null(response.Header("Date"));
        Assert.Equal("replica-fast", response.Header("X-Pathfinder-Replica"));
        Assert.Equal(upgrade.ExpectedAccept, response.Header("Sec-WebSocket-Accept"));
        Assert.Equal("websocket", response.Header("Upgrade"), ignoreCase: true);
        Assert.Equal("Upgrade", response.Header("Connection"), ignoreCase: true);
        Assert.Null(response.Header("Sec-WebSocket-Extensions"));
    }

    private static void AssertKestrel101(RawConnection.Response response, UpgradeBytes upgrade)
    {
        Assert.Equal("HTTP/1.1 101 Switching Protocols", response.StatusLine);
        Assert.Equal("Kestrel", response.Header("Server"));
        Assert.NotNull(response.Header("Date"));
        Assert.Equal("replica-fast", response.Header("X-Pathfinder-Replica"));
        Assert.Equal(upgrade.ExpectedAccept, response.Header("Sec-WebSocket-Accept"));
    }

    private static async Task AssertOpenAsync(RawConnection connection)
    {
        var open = await connection.ReadFrameAsync();
        Assert.Equal((true, FrameOpcode.Text, """{"type":"OPEN"}"""), (open.Fin, open.Opcode, open.Text));
    }

    [Fact]
    public async Task A_plain_upgrade_gets_the_fast_paths_101_then_open()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host);

        await connection.WriteAsync(upgrade.Bytes);

        AssertFastPath101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);
    }

    [Fact]
    public async Task An_upgrade_with_x_forwarded_for_goes_through_kestrels_http_stack_and_opens()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host, null, "X-Forwarded-For: 198.51.100.9");

        await connection.WriteAsync(upgrade.Bytes);

        AssertKestrel101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);
    }

    [Fact]
    public async Task With_the_fast_path_off_a_plain_upgrade_goes_through_kestrels_http_stack()
    {
        await using var host = await StartAsync(new() { [PeerJsUpgradeFastPath.Setting] = "false" });
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host);

        await connection.WriteAsync(upgrade.Bytes);

        AssertKestrel101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);
    }

    [Fact]
    public async Task A_head_arriving_one_byte_at_a_time_still_takes_the_fast_path()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host);

        await connection.WriteOneByteAtATimeAsync(upgrade.Bytes);

        AssertFastPath101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);
    }

    [Fact]
    public async Task A_proxied_head_arriving_one_byte_at_a_time_is_replayed_to_kestrel()
    {
        // The fast path examined every byte before it saw X-Forwarded-For: Kestrel must still get them all.
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host, null, "X-Forwarded-For: 198.51.100.9");

        await connection.WriteOneByteAtATimeAsync(upgrade.Bytes);

        AssertKestrel101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);
    }

    [Fact]
    public async Task The_http_api_works_on_a_connection_whose_first_bytes_the_fast_path_examined()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var request = Encoding.ASCII.GetBytes($"GET {host.Path}/{SignalingTestHost.DefaultKey}/id HTTP/1.1\r\nHost: {host.HttpBase.Authority}\r\n\r\n");

        // "GET /pathfinder/p" could still be "GET /pathfinder/peerjs": the fast path reads on, then steps aside.
        var shared = $"GET {host.Path}/p".Length;
        await connection.WriteOneByteAtATimeAsync(request[..shared]);
        await connection.WriteAsync(request[shared..]);
        var first = await connection.ReadResponseAsync();

        // Kestrel keeps the connection alive: a second request on it is plain HTTP.
        await connection.WriteAsync(request);
        var second = await connection.ReadResponseAsync();

        foreach (var response in new[] { first, second })
        {
            Assert.Equal("HTTP/1.1 200 OK", response.StatusLine);
            Assert.Equal("Kestrel", response.Header("Server"));
            Assert.Equal("replica-fast", response.Header("X-Pathfinder-Replica"));
            Assert.True(Guid.TryParse(response.Body, out _), response.Body);
        }

        Assert.NotEqual(first.Body, second.Body);
    }

    [Fact]
    public async Task The_http_api_works_when_its_whole_request_arrives_at_once()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);

        await connection.WriteAsync(Encoding.ASCII.GetBytes($"GET {host.Path}/{SignalingTestHost.DefaultKey}/id HTTP/1.1\r\nHost: x\r\n\r\n"));

        var response = await connection.ReadResponseAsync();
        Assert.Equal("HTTP/1.1 200 OK", response.StatusLine);
        Assert.True(Guid.TryParse(response.Body, out _), response.Body);
    }

    [Fact]
    public async Task An_upgrade_with_bare_lf_line_endings_is_answered()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host);

        await connection.WriteAsync(Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(upgrade.Bytes).Replace("\r\n", "\n", StringComparison.Ordinal)));

        AssertKestrel101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);
    }

    [Fact]
    public async Task Pipelined_requests_that_arrive_at_once_are_all_answered()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var request = Encoding.ASCII.GetBytes($"GET {host.Path}/{SignalingTestHost.DefaultKey}/id HTTP/1.1\r\nHost: x\r\n\r\n");

        await connection.WriteAsync(ClientFrames.Concat(request, request));

        var first = await connection.ReadResponseAsync();
        var second = await connection.ReadResponseAsync();
        Assert.Equal(("HTTP/1.1 200 OK", "HTTP/1.1 200 OK"), (first.StatusLine, second.StatusLine));
    }

    [Fact]
    public async Task An_origin_outside_cors_origins_gets_403_from_the_fast_path_and_an_allowed_one_opens()
    {
        await using var host = await StartAsync(new() { ["CORS_ORIGINS"] = "https://grafana.example.com,https://*.grafana.net" });

        await using (var refused = await RawConnection.OpenAsync(host))
        {
            await refused.WriteAsync(Upgrade(host, null, "Origin: https://evil.example.org").Bytes);

            var response = await refused.ReadResponseAsync();
            Assert.Equal("HTTP/1.1 403 Forbidden", response.StatusLine);
            Assert.Null(response.Header("Server"));
            Assert.Equal("replica-fast", response.Header("X-Pathfinder-Replica"));
            Assert.Equal("close", response.Header("Connection"));
            Assert.Equal("Origin not allowed", response.Body);
            Assert.True(await refused.IsClosedAsync(), "the connection should be closed after the 403");
        }

        foreach (var origin in new[] { "https://grafana.example.com", "https://team-a.grafana.net" })
        {
            await using var allowed = await RawConnection.OpenAsync(host);
            var upgrade = Upgrade(host, null, $"Origin: {origin}");
            await allowed.WriteAsync(upgrade.Bytes);
            AssertFastPath101(await allowed.ReadResponseHeadAsync(), upgrade);
            await AssertOpenAsync(allowed);
        }
    }

    [Fact]
    public async Task Over_the_rate_limit_the_fast_path_answers_429_with_retry_after()
    {
        await using var host = await StartAsync(new()
        {
            ["RATE_LIMIT_ENABLED"] = "true",
            ["RATE_LIMIT_MAX"] = "2",
            ["RATE_LIMIT_WINDOW_MS"] = "60000",
        });

        // One upgrade (fast path) and one API request draw on the same budget of two.
        await using var first = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host);
        await first.WriteAsync(upgrade.Bytes);
        AssertFastPath101(await first.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(first);

        await using (var api = await RawConnection.OpenAsync(host))
        {
            await api.WriteAsync(Encoding.ASCII.GetBytes($"GET {host.Path} HTTP/1.1\r\nHost: x\r\n\r\n"));
            Assert.Equal("HTTP/1.1 200 OK", (await api.ReadResponseAsync()).StatusLine);
        }

        await using var limited = await RawConnection.OpenAsync(host);
        await limited.WriteAsync(Upgrade(host).Bytes);

        var response = await limited.ReadResponseAsync();
        Assert.Equal("HTTP/1.1 429 Too Many Requests", response.StatusLine);
        Assert.Null(response.Header("Server"));
        Assert.InRange(int.Parse(response.Header("Retry-After")!, CultureInfo.InvariantCulture), 1, 60);
        Assert.Equal("replica-fast", response.Header("X-Pathfinder-Replica"));
        Assert.Equal("Too Many Requests", response.Body);
        Assert.True(await limited.IsClosedAsync(), "the connection should be closed after the 429");
    }

    [Fact]
    public async Task A_client_ping_gets_a_pong_with_the_same_payload()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host);
        await connection.WriteAsync(upgrade.Bytes);
        AssertFastPath101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);

        foreach (var payload in new[] { "ping-1 ✓", string.Empty, new string('p', 125) })
        {
            await connection.WriteAsync(ClientFrames.Ping(payload));
            var pong = await connection.ReadFrameAsync();
            Assert.Equal((true, FrameOpcode.Pong, payload), (pong.Fin, pong.Opcode, pong.Text));
        }

        // Cut anywhere on its way in, a ping is still answered.
        await connection.WriteOneByteAtATimeAsync(ClientFrames.Ping("slow"));
        var slow = await connection.ReadFrameAsync();
        Assert.Equal((FrameOpcode.Pong, "slow"), (slow.Opcode, slow.Text));
    }

    [Fact]
    public async Task A_ping_sent_together_with_the_head_is_answered_after_open()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host);

        await connection.WriteAsync(ClientFrames.Concat(upgrade.Bytes, ClientFrames.Ping("eager")));

        AssertFastPath101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);
        var pong = await connection.ReadFrameAsync();
        Assert.Equal((FrameOpcode.Pong, "eager"), (pong.Opcode, pong.Text));
    }

    [Fact]
    public async Task A_client_close_gets_a_close_frame_back_and_the_connection_ends()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host);
        await connection.WriteAsync(upgrade.Bytes);
        AssertFastPath101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);

        await connection.WriteAsync(ClientFrames.Close(1000, "bye"));

        var close = await connection.ReadFrameAsync();
        Assert.Equal((true, FrameOpcode.Close), (close.Fin, close.Opcode));
        Assert.True(close.Payload.Length >= 2, "the close frame should carry a status code");
        Assert.Equal(1000, BinaryPrimitives.ReadUInt16BigEndian(close.Payload));
        Assert.True(await connection.IsClosedAsync(), "the server should end the connection after the close handshake");
    }

    [Fact]
    public async Task An_unmasked_client_frame_gets_a_1002_close()
    {
        await using var host = await StartAsync();
        await using var connection = await RawConnection.OpenAsync(host);
        var upgrade = Upgrade(host);
        await connection.WriteAsync(upgrade.Bytes);
        AssertFastPath101(await connection.ReadResponseHeadAsync(), upgrade);
        await AssertOpenAsync(connection);

        await connection.WriteAsync(ClientFrames.Frame(FrameOpcode.Text, """{"type":"HEARTBEAT"}"""u8, masked: false));

        var close = await connection.ReadFrameAsync();
        Assert.Equal(FrameOpcode.Close, close.Opcode);
        Assert.Equal((int)WebSocketCloseStatus.ProtocolError, BinaryPrimitives.ReadUInt16BigEndian(close.Payload));
        Assert.True(await connection.IsClosedAsync(), "the server should end the connection after a protocol error");
    }

    [Fact]
    public async Task The_id_of_a_closed_fast_path_socket_can_be_claimed_again()
    {
        await using var host = await StartAsync();
        var id = PeerClient.NewId();
        await using (var connection = await RawConnection.OpenAsync(host))
        {
            var upgrade = Upgrade(host, id);
            await connection.WriteAsync(upgrade.Bytes);
            AssertFastPath101(await connection.ReadResponseHeadAsync(), upgrade);
            await AssertOpenAsync(connection);
            await connection.WriteAsync(ClientFrames.Close(1000));
            Assert.Equal(FrameOpcode.Close, (await connection.ReadFrameAsync()).Opcode);
        }

        // The id is released before the close frame goes out.
        await using var again = await PeerClient.ConnectAsync(host.SocketUri, id);
    }
}

/// <summary>A raw TCP connection to the test host: bytes written as given, responses and frames parsed by hand. Every wait is bounded.</summary>
internal sealed class RawConnection : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly List<byte> _received = [];

    private RawConnection(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public sealed record Response(string StatusLine, IReadOnlyList<(string Name, string Value)> Headers, string Body)
    {
        /// <summary>The header's value; null when absent. Fails when it is repeated.</summary>
        public string? Header(string name)
        {
            var values = Headers.Where(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).ToList();
            Assert.True(values.Count <= 1, $"{name} is repeated");
            return values.Count == 0 ? null : values[0].Value;
        }
    }

    public sealed record Frame(bool Fin, FrameOpcode Opcode, byte[] Payload)
    {
        public string Text => Encoding.UTF8.GetString(Payload);
    }

    public static async Task<RawConnection> OpenAsync(SignalingTestHost host)
    {
        var client = new TcpClient { NoDelay = true };
        using var cts = new CancellationTokenSource(Timeout);
        await client.ConnectAsync(host.HttpBase.Host, host.HttpBase.Port, cts.Token);
        return new RawConnection(client);
    }

    public async Task WriteAsync(byte[] bytes)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _stream.WriteAsync(bytes, cts.Token);
        await _stream.FlushAsync(cts.Token);
    }

    /// <summary>One byte per send, a millisecond or so apart, so that the server sees many small reads.</summary>
    public async Task WriteOneByteAtATimeAsync(byte[] bytes)
    {
        foreach (var b in bytes)
        {
            await WriteAsync([b]);
            await Task.Delay(1);
        }
    }

    /// <summary>The status line and headers of a response (its body, if any, is left unread).</summary>
    public async Task<Response> ReadResponseHeadAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        int end;
        while ((end = IndexOf("\r\n\r\n"u8)) < 0)
        {
            await FillAsync(cts.Token);
        }

        var lines = Encoding.Latin1.GetString(Take(end + 4), 0, end).Split("\r\n");
        var headers = lines.Skip(1).Select(line =>
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            Assert.True(colon > 0, $"malformed header line: {line}");
            return (line[..colon], line[(colon + 1)..].Trim());
        }).ToList();
        return new Response(lines[0], headers, string.Empty);
    }

    /// <summary>A whole response; its body read by Content-Length or chunked.</summary>
    public async Task<Response> ReadResponseAsync()
    {
        var head = await ReadResponseHeadAsync();
        if (head.Header("Transfer-Encoding") is { } encoding)
        {
            Assert.Equal("chunked", encoding);
            var body = new List<byte>();
            while (true)
            {
                var size = int.Parse(await ReadLineAsync(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    while (await ReadLineAsync() != string.Empty)
                    {
                        // trailers
                    }

                    return head with { Body = Encoding.UTF8.GetString(body.ToArray()) };
                }

                body.AddRange(await ReadExactlyAsync(size));
                Assert.Equal(string.Empty, await ReadLineAsync());
            }
        }

        var length = head.Header("Content-Length") is { } value ? int.Parse(value, CultureInfo.InvariantCulture) : 0;
        return head with { Body = Encoding.UTF8.GetString(await ReadExactlyAsync(length)) };
    }

    private async Task<string> ReadLineAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        int end;
        while ((end = IndexOf("\r\n"u8)) < 0)
        {
            await FillAsync(cts.Token);
        }

        return Encoding.Latin1.GetString(Take(end + 2), 0, end);
    }

    /// <summary>The next frame from the server, which must be unmasked.</summary>
    public async Task<Frame> ReadFrameAsync()
    {
        var header = await ReadExactlyAsync(2);
        Assert.True((header[1] & 0x80) == 0, "server frames must not be masked");
        Assert.True((header[0] & 0x70) == 0, "no extension was negotiated: reserved bits must be clear");
        long length = header[1] & 0x7F;
        if (length == 126)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(await ReadExactlyAsync(2));
        }
        else if (length == 127)
        {
            length = (long)BinaryPrimitives.ReadUInt64BigEndian(await ReadExactlyAsync(8));
        }

        Assert.InRange(length, 0, 1 << 20);
        return new Frame((header[0] & 0x80) != 0, (FrameOpcode)(header[0] & 0x0F), await ReadExactlyAsync((int)length));
    }

    /// <summary>True when the server ends the connection (FIN or reset) within the timeout with nothing more sent.</summary>
    public async Task<bool> IsClosedAsync()
    {
        if (_received.Count > 0)
        {
            return false;
        }

        using var cts = new CancellationTokenSource(Timeout);
        var buffer = new byte[1];
        try
        {
            return await _stream.ReadAsync(buffer, cts.Token) == 0;
        }
        catch (IOException)
        {
            return true; // reset
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return false;
        }
    }

    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (_received.Count < count)
        {
            await FillAsync(cts.Token);
        }

        return Take(count);
    }

    private async Task FillAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        int read;
        try
        {
            read = await _stream.ReadAsync(buffer, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"nothing more from the server within {Timeout}; received so far: {Printable()}");
        }

        if (read == 0)
        {
            throw new EndOfStreamException($"the server closed the connection; received so far: {Printable()}");
        }

        _received.AddRange(buffer.AsSpan(0, read));
    }

    private string Printable() => Encoding.Latin1.GetString(_received.ToArray());

    private int IndexOf(ReadOnlySpan<byte> value) => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_received).IndexOf(value);

    private byte[] Take(int count)
    {
        var taken = _received.GetRange(0, count).ToArray();
        _received.RemoveRange(0, count);
        return taken;
    }

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
