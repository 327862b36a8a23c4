using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Issue 14 item 8: the upgrade fast path enforces what Kestrel and the ASP.NET Core pipeline enforce — header names
/// are RFC 9110 tokens, Kestrel's request-line and header limits, AllowedHosts, case-insensitive query names, one total
/// request-headers timeout — by handing everything it would have to reject to Kestrel untouched. Each case runs with
/// the fast path on and off (raw TCP against the real service), and both must answer alike.
/// </summary>
public sealed class UpgradePolicyTests
{
    private static Task<SignalingTestHost> StartAsync(bool fastPath, Dictionary<string, string?>? settings = null, Action<KestrelServerLimits>? limits = null)
    {
        var values = new Dictionary<string, string?>
        {
            [PeerJsUpgradeFastPath.Setting] = fastPath ? "true" : "false",
            ["Signaling:Cluster:ReplicaId"] = "replica-policy",
        };
        foreach (var (key, value) in settings ?? [])
        {
            values[key] = value;
        }

        return SignalingTestHost.StartAsync(
            values,
            configureServices: limits is null ? null : services => services.Configure<KestrelServerOptions>(o => limits(o.Limits)));
    }

    /// <summary>An upgrade request head: the request line for <paramref name="query"/>, the usual headers, then <paramref name="extra"/>.</summary>
    private static byte[] Upgrade(SignalingTestHost host, string? query = null, string? hostHeader = null, params string[] extra)
    {
        query ??= $"key={SignalingTestHost.DefaultKey}&id={PeerClient.NewId()}&token=tok";
        var headers = new List<string>
        {
            $"Host: {hostHeader ?? host.HttpBase.Authority}",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            $"Sec-WebSocket-Key: {Convert.ToBase64String(RandomNumberGenerator.GetBytes(16))}",
        };
        headers.AddRange(extra);
        return Encoding.Latin1.GetBytes($"GET {host.Path}/peerjs?{query} HTTP/1.1\r\n" + string.Concat(headers.Select(h => h + "\r\n")) + "\r\n");
    }

    private static async Task<RawConnection.Response> SendAsync(SignalingTestHost host, byte[] head)
    {
        await using var connection = await RawConnection.OpenAsync(host);
        await connection.WriteAsync(head);
        return await connection.ReadResponseHeadAsync();
    }

    private static int Status(RawConnection.Response response) =>
        int.Parse(response.StatusLine.Split(' ')[1], CultureInfo.InvariantCulture);

    private static async Task AssertOpensAsync(SignalingTestHost host, byte[] head)
    {
        await using var connection = await RawConnection.OpenAsync(host);
        await connection.WriteAsync(head);
        Assert.Equal("HTTP/1.1 101 Switching Protocols", (await connection.ReadResponseHeadAsync()).StatusLine);
        Assert.Equal("""{"type":"OPEN"}""", (await connection.ReadFrameAsync()).Text);
    }

    [Theory]
    [InlineData(true, "X-Bad(name: 1")]
    [InlineData(false, "X-Bad(name: 1")]
    [InlineData(true, "X-Bad\"name: 1")]
    [InlineData(false, "X-Bad\"name: 1")]
    [InlineData(true, "X{Bad}: 1")]
    [InlineData(false, "X{Bad}: 1")]
    [InlineData(true, "X/Bad: 1")]
    [InlineData(false, "X/Bad: 1")]
    public async Task A_header_name_that_is_not_a_token_gets_400(bool fastPath, string header)
    {
        await using var host = await StartAsync(fastPath);
        Assert.Equal(400, Status(await SendAsync(host, Upgrade(host, null, null, header))));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Header_names_with_every_token_character_still_open(bool fastPath)
    {
        await using var host = await StartAsync(fastPath);
        await AssertOpensAsync(host, Upgrade(host, null, null, "X-!#$%&'*+-.^_`|~09azAZ: 1"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_17_kb_request_line_gets_414(bool fastPath)
    {
        await using var host = await StartAsync(fastPath);
        var query = $"key={SignalingTestHost.DefaultKey}&id={PeerClient.NewId()}&token=tok&pad={new string('p', 17 * 1024)}";

        var response = await SendAsync(host, Upgrade(host, query));

        Assert.Equal(414, Status(response));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_request_line_limit_is_kestrels_setting(bool fastPath)
    {
        await using var host = await StartAsync(fastPath, limits: limits => limits.MaxRequestLineSize = 1024);
        var fits = $"key={SignalingTestHost.DefaultKey}&id={PeerClient.NewId()}&token=tok&pad={new string('p', 700)}";
        var over = $"key={SignalingTestHost.DefaultKey}&id={PeerClient.NewId()}&token=tok&pad={new string('p', 1100)}";

        await AssertOpensAsync(host, Upgrade(host, fits));
        Assert.Equal(414, Status(await SendAsync(host, Upgrade(host, over))));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task More_headers_than_max_request_header_count_get_431(bool fastPath)
    {
        await using var host = await StartAsync(fastPath);
        var headers = Enumerable.Range(0, 100).Select(i => $"X-H{i}: {i}").ToArray();

        Assert.Equal(431, Status(await SendAsync(host, Upgrade(host, null, null, headers))));
        await AssertOpensAsync(host, Upgrade(host, null, null, headers[..90]));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Headers_over_kestrels_total_size_get_431(bool fastPath)
    {
        await using var host = await StartAsync(fastPath, limits: limits => limits.MaxRequestHeadersTotalSize = 4096);
        var big = $"X-Big: {new string('b', 4200)}";

        Assert.Equal(431, Status(await SendAsync(host, Upgrade(host, null, null, big))));
        await AssertOpensAsync(host, Upgrade(host, null, null, $"X-Fits: {new string('f', 3000)}"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_host_outside_allowed_hosts_gets_400_and_an_allowed_one_opens(bool fastPath)
    {
        await using var host = await StartAsync(fastPath, new() { ["AllowedHosts"] = "signaling.example.com;*.grafana.example" });

        Assert.Equal(400, Status(await SendAsync(host, Upgrade(host, null, "evil.example.org"))));
        Assert.Equal(400, Status(await SendAsync(host, Upgrade(host, null, host.HttpBase.Authority))));
        await AssertOpensAsync(host, Upgrade(host, null, "signaling.example.com"));
        await AssertOpensAsync(host, Upgrade(host, null, "team.grafana.example:443"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task With_allowed_hosts_star_any_host_opens(bool fastPath)
    {
        await using var host = await StartAsync(fastPath, new() { ["AllowedHosts"] = "*" });
        await AssertOpensAsync(host, Upgrade(host, null, "anything.example.net"));
    }

    [Theory]
    [InlineData(true, "KEY={0}&ID={1}&TOKEN=tok")]
    [InlineData(false, "KEY={0}&ID={1}&TOKEN=tok")]
    [InlineData(true, "Key={0}&Id={1}&Token=tok")]
    [InlineData(false, "Key={0}&Id={1}&Token=tok")]
    [InlineData(true, "key=wrong&KEY={0}&id={1}&token=tok")]
    [InlineData(false, "key=wrong&KEY={0}&id={1}&token=tok")]
    public async Task Query_names_match_case_insensitively_as_request_query_does(bool fastPath, string format)
    {
        await using var host = await StartAsync(fastPath);
        var id = PeerClient.NewId();
        await using var connection = await RawConnection.OpenAsync(host);
        await connection.WriteAsync(Upgrade(host, string.Format(CultureInfo.InvariantCulture, format, SignalingTestHost.DefaultKey, id)));
        Assert.Equal("HTTP/1.1 101 Switching Protocols", (await connection.ReadResponseHeadAsync()).StatusLine);
        Assert.Equal("""{"type":"OPEN"}""", (await connection.ReadFrameAsync()).Text);

        // The id is the one claimed: a second socket with another token is refused as ID-TAKEN.
        await using var intruder = await PeerClient.OpenAsync(host.SocketUri, id, token: "other");
        Assert.Equal(["""{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"""], await intruder.WaitForCloseAsync());
    }

    /// <summary>
    /// The request-headers timeout is one budget for the whole head. A head trickled in over many reads that the fast
    /// path reads for 3 s (of a 4 s budget) and then hands to Kestrel (a bare LF line) must be cut at 4 s — not get a
    /// fresh Kestrel timeout from the hand-over (which would let a head completed at 7 s through: Kestrel's timeouts
    /// fire on a 1 s heartbeat, one interval late, so at 8–9 s). Without the fast path Kestrel alone cuts it by 6 s.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_head_trickled_past_the_total_header_timeout_is_cut(bool fastPath)
    {
        await using var host = await StartAsync(fastPath, limits: limits => limits.RequestHeadersTimeout = TimeSpan.FromSeconds(4));
        var head = Encoding.ASCII.GetString(Upgrade(host));
        var requestLineEnd = head.IndexOf("\r\n", StringComparison.Ordinal) + 2;
        var pieces = new List<(TimeSpan At, string Bytes)> { (TimeSpan.Zero, head[..requestLineEnd]) };
        for (var i = 1; i <= 12; i++)
        {
            pieces.Add((TimeSpan.FromMilliseconds(250 * i), $"X-Slow-{i}: {i}\r\n")); // up to 3 s: the fast path reads
        }

        pieces.Add((TimeSpan.FromSeconds(3.1), "X-Bare-Lf: 1\n")); // not ours: handed to Kestrel
        for (var i = 1; i <= 15; i++)
        {
            pieces.Add((TimeSpan.FromSeconds(3.1 + (0.25 * i)), $"X-Later-{i}: {i}\r\n")); // on to 6.85 s
        }

        pieces.Add((TimeSpan.FromSeconds(7), head[requestLineEnd..])); // the rest of the head, complete at 7 s

        await using var connection = await RawConnection.OpenAsync(host);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var cut = false;
        try
        {
            foreach (var (at, bytes) in pieces)
            {
                var wait = at - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait);
                }

                await connection.WriteAsync(Encoding.ASCII.GetBytes(bytes));
            }
        }
        catch (IOException)
        {
            cut = true; // reset while writing
        }

        string? status = null;
        try
        {
            status = (await connection.ReadResponseHeadAsync()).StatusLine;
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException)
        {
            cut = true;
        }

        Assert.True(cut || status == "HTTP/1.1 408 Request Timeout", $"the head should have been cut; got {status}");
    }

    /// <summary>
    /// The rest of the header budget applies to the head only: once Kestrel has the head of a connection the fast path
    /// handed over (here a proxied upgrade the fast path read in pieces), the socket lives on past the deadline.
    /// </summary>
    [Fact]
    public async Task A_socket_handed_over_after_a_partial_read_outlives_the_header_deadline()
    {
        await using var host = await StartAsync(true, limits: limits => limits.RequestHeadersTimeout = TimeSpan.FromSeconds(2));
        var head = Upgrade(host, null, null, "X-Forwarded-For: 198.51.100.9");
        await using var connection = await RawConnection.OpenAsync(host);
        var half = head.Length / 2;
        await connection.WriteAsync(head[..half]);
        await Task.Delay(300); // the fast path reads the first half, waits for more, then hands the head over
        await connection.WriteAsync(head[half..]);
        var response = await connection.ReadResponseHeadAsync();
        Assert.Equal(("HTTP/1.1 101 Switching Protocols", "Kestrel"), (response.StatusLine, response.Header("Server")));
        Assert.Equal("""{"type":"OPEN"}""", (await connection.ReadFrameAsync()).Text);

        // Past the 2 s budget (its timer would fire at 2 s from the connect), the socket still answers a ping.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        await connection.WriteAsync(ClientFrames.Ping("alive"));
        var pong = await connection.ReadFrameAsync();
        Assert.Equal((FrameOpcode.Pong, "alive"), (pong.Opcode, pong.Text));
    }

    // ---- The parser on its own ---------------------------------------------------------------------------------------

    private static readonly byte[] Prefix = UpgradeRequest.RequestLinePrefix("/pathfinder/peerjs");

    private static byte[] Head(string target, params string[] headers) => Encoding.Latin1.GetBytes(
        $"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + string.Concat(headers.Select(h => h + "\r\n")) + "\r\n");

    [Fact]
    public void A_head_fed_one_byte_at_a_time_to_one_parser_gives_the_same_request()
    {
        var head = Head("/pathfinder/peerjs?Key=k&ID=i&token=t", "Origin: https://a.example");
        var parser = new UpgradeHeadParser(Prefix, UpgradeHeadLimits.KestrelDefaults);
        UpgradeRequest? request = null;
        var headLength = 0;
        for (var length = 1; length <= head.Length; length++)
        {
            var result = parser.Advance(new ReadOnlySequence<byte>(head, 0, length), out request, out headLength);
            Assert.Equal(length == head.Length ? UpgradeHead.Ours : UpgradeHead.Incomplete, result);
        }

        Assert.Equal(head.Length, headLength);
        Assert.Equal(("k", "i", "t", "https://a.example"), (request!.Key, request.Id, request.Token, request.Origin));
    }

    [Fact]
    public void The_parser_judges_lines_as_they_complete()
    {
        // Not ours as soon as the offending line is complete, before the head ends.
        var parser = new UpgradeHeadParser(Prefix, UpgradeHeadLimits.KestrelDefaults);
        var start = Encoding.ASCII.GetBytes("GET /pathfinder/peerjs?key=k HTTP/1.1\r\nX-Bad(: 1\r\n");
        Assert.Equal(UpgradeHead.NotOurs, parser.Advance(new ReadOnlySequence<byte>(start), out _, out _));

        // A request line longer than Kestrel's limit is not ours before its end arrives.
        var longLine = Encoding.ASCII.GetBytes("GET /pathfinder/peerjs?pad=" + new string('p', 8200));
        Assert.Equal(UpgradeHead.NotOurs, new UpgradeHeadParser(Prefix, UpgradeHeadLimits.KestrelDefaults).Advance(new ReadOnlySequence<byte>(longLine), out _, out _));
    }

    [Theory]
    [InlineData("localhost", true)]
    [InlineData("localhost:9000", true)]
    [InlineData("127.0.0.1:80", true)]
    [InlineData("[::1]:9000", true)]
    [InlineData("", false)]
    [InlineData("a b", false)]
    [InlineData("a/b", false)]
    [InlineData("a@b", false)]
    [InlineData("host:port", false)]
    [InlineData("host:1234567", false)]
    public void Only_a_plain_host_is_ours(string hostValue, bool ours)
    {
        var head = Encoding.ASCII.GetString(Head("/pathfinder/peerjs?key=k")).Replace("Host: localhost", "Host: " + hostValue, StringComparison.Ordinal);
        var result = UpgradeRequest.TryParse(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(head)), Prefix, out _, out _);
        Assert.Equal(ours ? UpgradeHead.Ours : UpgradeHead.NotOurs, result);
    }
}
