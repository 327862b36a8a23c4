using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Issue 14 item 6: ids and dst follow the PeerJS client's id rule with a maximum length, tokens a length and a safe
/// set (<see cref="PeerIdRules"/>); a violation is the protocol's ERROR (in-band after the key check, or for a message
/// the sender), never an exception; ids reach logs escaped. The socket cases run on both ways in (fast path on, off).
/// </summary>
public sealed class FieldRulesTests
{
    private const string InvalidKey = """{"type":"ERROR","payload":{"msg":"Invalid key provided"}}""";
    private const string InvalidToken = """{"type":"ERROR","payload":{"msg":"Invalid token provided"}}""";
    private const string NoParams = """{"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}}""";

    private static readonly PeerIdRules Rules = new(64);

    private static string InvalidId(int max = 64) =>
        $$$"""{"type":"ERROR","payload":{"msg":"Invalid id provided: letters and digits, with single '-', '_' or ' ' between them, at most {{{max}}} characters"}}""";

    private static string InvalidDst(int max = 64) =>
        $$$"""{"type":"ERROR","payload":{"msg":"Invalid dst: letters and digits, with single '-', '_' or ' ' between them, at most {{{max}}} characters; the message was dropped"}}""";

    private static Task<SignalingTestHost> StartAsync(bool fastPath, params (string Name, string Value)[] settings)
    {
        var values = new Dictionary<string, string?>
        {
            [PeerJsUpgradeFastPath.Setting] = fastPath ? "true" : "false",
            ["Logging:LogLevel:Pathfinder"] = "Information",
        };
        foreach (var (name, value) in settings)
        {
            values[name] = value;
        }

        return SignalingTestHost.StartAsync(values, configureLogging: logging => logging.AddFakeLogging());
    }

    private static string Unique() => Guid.NewGuid().ToString("N")[..12];

    // ---- The rules ------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("a")]
    [InlineData("peer-1")]
    [InlineData("my peer 2")]
    [InlineData("a_b-c d")]
    [InlineData("3f2504e0-4f89-11d3-9a0c-0305e82c3301")] // what GET /id hands out
    public void Ids_of_the_peerjs_client_rule_are_valid(string id) => Assert.True(Rules.IsValidId(id), id);

    [Theory]
    [InlineData("")]
    [InlineData("-a")]
    [InlineData("a-")]
    [InlineData("a--b")]
    [InlineData("a -b")]
    [InlineData(" a")]
    [InlineData("a.b")]
    [InlineData("a/b")]
    [InlineData("a\"b")]
    [InlineData("a\nb")]
    [InlineData("a\u0001b")]
    [InlineData("caf\u00e9")]
    [InlineData("\u0661")] // an Arabic-Indic digit is not [0-9]
    public void Anything_else_is_not_an_id(string id) => Assert.False(Rules.IsValidId(id), id);

    [Fact]
    public void An_id_is_at_most_the_configured_length()
    {
        Assert.True(Rules.IsValidId(new string('a', 64)));
        Assert.False(Rules.IsValidId(new string('a', 65)));
        Assert.True(new PeerIdRules(100).IsValidId(new string('a', 100)));
    }

    [Theory]
    [InlineData("tok", true)]
    [InlineData("k3j4h5g6", true)]
    [InlineData("1767225600.dGhpcyBpcyBhIHNpZ25hdHVyZQ_-", true)] // base64url "{expiry}.{signature}"
    [InlineData("a~b", true)]
    [InlineData("", false)]
    [InlineData("a b", false)]
    [InlineData("a+b", false)]
    [InlineData("a\nb", false)]
    [InlineData("a:b", false)]
    [InlineData("a=", false)]
    public void Tokens_are_letters_digits_and_dash_underscore_dot_tilde(string token, bool valid) =>
        Assert.Equal(valid, PeerIdRules.IsValidToken(token));

    [Fact]
    public void A_token_is_at_most_64_characters()
    {
        Assert.True(PeerIdRules.IsValidToken(new string('t', 64)));
        Assert.False(PeerIdRules.IsValidToken(new string('t', 65)));
    }

    [Fact]
    public void Values_for_logs_have_no_control_characters_and_a_bounded_length()
    {
        Assert.Equal("peer-1", PeerIdRules.ForLog("peer-1"));
        Assert.Null(PeerIdRules.ForLog(null));
        Assert.Equal(@"a\nb\r\u0001\u001b[31m\\c\u2028", PeerIdRules.ForLog("a\nb\r\u0001\u001b[31m\\c\u2028"));
        Assert.Equal(@"\ud800x", PeerIdRules.ForLog("\ud800x"));
        Assert.Equal("😀", PeerIdRules.ForLog("😀"));

        var logged = PeerIdRules.ForLog(new string('x', 70_000))!;
        Assert.Equal(new string('x', PeerIdRules.MaxLoggedLength) + "…(70000 chars)", logged);
    }

    [Fact]
    public void The_error_frames_are_json_with_the_texts()
    {
        Assert.Equal(InvalidToken, System.Text.Encoding.UTF8.GetString(ServerMessages.InvalidToken.Span));
        Assert.Equal(InvalidId(), System.Text.Encoding.UTF8.GetString(Rules.InvalidId.Span));
        Assert.Equal("Invalid token provided", JsonDocument.Parse(ServerMessages.InvalidToken).RootElement.GetProperty("payload").GetProperty("msg").GetString());
    }

    // ---- On the socket, both ways in --------------------------------------------------------------------------------

    private static async Task AssertRefusedAsync(SignalingTestHost host, string? id, string? token, string key, string expected)
    {
        await using var client = await PeerClient.OpenAsync(host.SocketUri, id, token, key, rawUri: PeerClient.BuildUri(host.SocketUri, key, id, token));
        Assert.Equal([expected], await client.WaitForCloseAsync());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, client.CloseStatus);
    }

    public static TheoryData<bool, string> BadIds() => new()
    {
        { true, "bad.id" }, { false, "bad.id" },
        { true, "-lead" }, { false, "-lead" },
        { true, "two  spaces" }, { false, "two  spaces" },
        { true, "line\nbreak" }, { false, "line\nbreak" },
        { true, new string('a', 65) }, { false, new string('a', 65) },
        { true, new string('a', 7_000) }, { false, new string('a', 7_000) },
    };

    [Theory]
    [MemberData(nameof(BadIds))]
    public async Task An_id_outside_the_rule_gets_the_invalid_id_error_and_is_closed(bool fastPath, string badId)
    {
        await using var host = await StartAsync(fastPath);
        var id = badId.Length > 64 ? badId : badId + Unique();

        await AssertRefusedAsync(host, id, "tok", SignalingTestHost.DefaultKey, InvalidId());

        // Nothing was registered under it, and the service carries on.
        await using var fine = await PeerClient.ConnectAsync(host.SocketUri);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_id_length_follows_max_id_length(bool fastPath)
    {
        await using var host = await StartAsync(fastPath, ("Signaling:MaxIdLength", "40"));
        await AssertRefusedAsync(host, "a" + new string('b', 40), "tok", SignalingTestHost.DefaultKey, InvalidId(40));
        await using var fits = await PeerClient.ConnectAsync(host.SocketUri, "a" + new string('b', 39));
    }

    [Theory]
    [InlineData(true, "a b")]
    [InlineData(false, "a b")]
    [InlineData(true, "tok\nlease:forged")]
    [InlineData(false, "tok\nlease:forged")]
    [InlineData(true, "a+b&c")]
    [InlineData(false, "a+b&c")]
    [InlineData(true, "t65")]
    [InlineData(false, "t65")]
    public async Task A_token_outside_the_rule_gets_the_invalid_token_error(bool fastPath, string token)
    {
        await using var host = await StartAsync(fastPath);
        await AssertRefusedAsync(host, PeerClient.NewId(), token == "t65" ? new string('t', 65) : token, SignalingTestHost.DefaultKey, InvalidToken);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_order_is_missing_parameters_then_key_then_id_then_token(bool fastPath)
    {
        await using var host = await StartAsync(fastPath);
        await AssertRefusedAsync(host, null, "bad token", "wrong", NoParams);
        await AssertRefusedAsync(host, "bad.id", "bad token", "wrong", InvalidKey);
        await AssertRefusedAsync(host, "bad.id", "bad token", SignalingTestHost.DefaultKey, InvalidId());
        await AssertRefusedAsync(host, PeerClient.NewId(), "bad token", SignalingTestHost.DefaultKey, InvalidToken);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_control_character_in_an_id_with_a_wrong_key_is_logged_escaped(bool fastPath)
    {
        await using var host = await StartAsync(fastPath);
        var marker = Unique();
        var id = $"evil\n[INFO] forged line {marker}\u001b[2J";

        await AssertRefusedAsync(host, id, "tok", "wrong-key", InvalidKey);

        var logged = Assert.Single(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 3 && r.Message.Contains(marker, StringComparison.Ordinal));
        Assert.Equal($@"evil\n[INFO] forged line {marker}\u001b[2J", logged.StructuredState!.First(kv => kv.Key == "PeerId").Value);
        Assert.DoesNotContain(logged.Message, c => char.IsControl(c));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_long_id_with_a_wrong_key_is_logged_bounded(bool fastPath)
    {
        await using var host = await StartAsync(fastPath);
        await AssertRefusedAsync(host, new string('x', 5_000), "tok", "wrong-key", InvalidKey);

        var logged = Assert.Single(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 3);
        Assert.Equal(new string('x', PeerIdRules.MaxLoggedLength) + "…(5000 chars)", logged.StructuredState!.First(kv => kv.Key == "PeerId").Value);
    }

    // ---- dst --------------------------------------------------------------------------------------------------------

    public static TheoryData<bool, string> BadDsts() => new()
    {
        { true, "not.an.id" }, { false, "not.an.id" },
        { true, "line\nbreak" }, { false, "line\nbreak" },
        { true, "x65" }, { false, "x65" },
        { true, "x70000" }, { false, "x70000" },
    };

    [Theory]
    [MemberData(nameof(BadDsts))]
    public async Task A_message_whose_dst_breaks_the_rule_is_dropped_the_sender_gets_error_and_stays_connected(bool fastPath, string dst)
    {
        // Large enough for a 70,000-character dst, which used to throw in the cluster envelope writer.
        await using var host = await StartAsync(fastPath, ("Signaling:MaxMessageBytes", "131072"));
        dst = dst switch
        {
            "x65" => new string('x', 65),
            "x70000" => new string('x', 70_000),
            _ => dst,
        };
        await using var sender = await PeerClient.ConnectAsync(host.SocketUri);
        await using var receiver = await PeerClient.ConnectAsync(host.SocketUri);

        await sender.SendToAsync("OFFER", dst, "1");
        Assert.Equal(InvalidDst(), await sender.ReceiveAsync());

        // The connection stays open and usable: a valid message after it is relayed, nothing else arrived.
        await sender.SendToAsync("OFFER", receiver.Id, "2");
        Assert.Equal($$"""{"type":"OFFER","src":"{{sender.Id}}","dst":"{{receiver.Id}}","payload":2}""", await receiver.ReceiveAsync());
        Assert.Equal(WebSocketState.Open, sender.Socket.State);
        Assert.Empty(await sender.DrainWithMarkerAsync());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_dst_at_the_maximum_length_is_queued_as_usual(bool fastPath)
    {
        await using var host = await StartAsync(fastPath, ("Signaling:ExpireTimeout", "60000"));
        await using var sender = await PeerClient.ConnectAsync(host.SocketUri);
        var offline = "o" + Unique() + new string('f', 64 - 13);
        Assert.Equal(64, offline.Length);

        await sender.SendToAsync("OFFER", offline, "1");
        await using var late = await PeerClient.ConnectAsync(host.SocketUri, offline);
        Assert.Equal($$"""{"type":"OFFER","src":"{{sender.Id}}","dst":"{{offline}}","payload":1}""", await late.ReceiveAsync());
        Assert.Empty(await sender.DrainWithMarkerAsync());
    }
}
