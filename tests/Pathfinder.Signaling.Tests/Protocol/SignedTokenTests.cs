using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Hosting;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Tests;

/// <summary>Signed tokens (issue 16): the format, the in-band refusals, the take-over and the mint-token command.</summary>
public sealed class SignedTokenTests
{
    private const string Secret = "0123456789abcdef0123456789abcdef"; // 32 bytes: the shortest allowed
    private const long Now = 1_800_000_000;
    private static readonly string InvalidToken = """{"type":"ERROR","payload":{"msg":"Invalid token provided"}}""";
    private static readonly string TokenExpired = """{"type":"ERROR","payload":{"msg":"Token expired"}}""";
    private static readonly string TakenOver = """{"type":"ERROR","payload":{"msg":"ID taken over by a newer connection"}}""";

    private static readonly SignedTokens Tokens = new(Secret);

    // ---- the format ----

    [Fact]
    public void The_signature_is_base64url_of_hmac_sha256_of_id_newline_expiry_as_documented()
    {
        // The vector of docs/production.md, computed there with Node's crypto (and Python's hmac).
        Assert.Equal("1700000000.WrkQRXCbh3INW_lfMdzgudzZzQYY5U_SXtu2-y0Um5s", Tokens.Mint("presenter-ABC123", 1_700_000_000));

        // And independently of the product: HMAC-SHA256 over UTF-8 "{id}\n{expiry}", base64url without padding.
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes("some peer\n1800000600"));
        var expected = Convert.ToBase64String(mac).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        Assert.Equal("1800000600." + expected, Tokens.Mint("some peer", Now + 600));
    }

    [Fact]
    public void A_token_is_valid_for_its_id_until_its_expiry()
    {
        var token = Tokens.Mint("presenter", Now + 1);
        Assert.Equal(TokenVerdict.Valid, Tokens.Verify("presenter", token, Now));
        Assert.Equal(TokenVerdict.Expired, Tokens.Verify("presenter", token, Now + 1));
        Assert.Equal(TokenVerdict.Expired, Tokens.Verify("presenter", Tokens.Mint("presenter", Now - 3600), Now));
        Assert.Equal(TokenVerdict.Expired, Tokens.Verify("presenter", Tokens.Mint("presenter", 0), Now));
    }

    [Fact]
    public void A_token_for_another_id_or_from_another_secret_or_with_a_changed_expiry_is_forged()
    {
        var token = Tokens.Mint("presenter", Now + 60);
        Assert.Equal(TokenVerdict.Forged, Tokens.Verify("presenter2", token, Now));
        Assert.Equal(TokenVerdict.Forged, Tokens.Verify("Presenter", token, Now));
        Assert.Equal(TokenVerdict.Forged, new SignedTokens(Secret + "x").Verify("presenter", token, Now));
        Assert.Equal(TokenVerdict.Forged, Tokens.Verify("presenter", "9" + token, Now)); // expiry pushed out
        Assert.Equal(TokenVerdict.Forged, Tokens.Verify("presenter", token[..^1] + (token[^1] == 'A' ? 'B' : 'A'), Now));

        // An expired token signed for another id is forged, not expired: nothing is said about the id's tokens.
        Assert.Equal(TokenVerdict.Forged, Tokens.Verify("other", Tokens.Mint("presenter", Now - 60), Now));
    }

    [Fact]
    public void A_non_canonical_encoding_of_the_right_signature_is_not_the_signature()
    {
        // 43 base64url characters carry 258 bits: the last character's 2 low bits must be zero.
        var token = Tokens.Mint("presenter", Now + 60);
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        var last = Alphabet.IndexOf(token[^1], StringComparison.Ordinal);
        Assert.Equal(0, last & 3);
        var sameBytes = token[..^1] + Alphabet[last | 1];
        Assert.Equal(TokenVerdict.Forged, Tokens.Verify("presenter", sameBytes, Now));
    }

    public static TheoryData<string> MalformedTokens()
    {
        var sig = Tokens.Mint("presenter", Now + 60)[11..]; // 43 characters
        return new TheoryData<string>
        {
            string.Empty,
            "1800000060",                                  // no dot
            "1800000060" + sig,                            // no dot, signature glued on
            "." + sig,                                     // no expiry
            "1800000060.",                                 // no signature
            "18000000x0." + sig,                           // non-numeric expiry
            "+1800000060." + sig,                          // signed expiry
            "-1." + sig,
            " 1800000060." + sig,
            "1800000060." + sig + "=",                     // padding
            "1800000060." + sig[..42] + "=",               // padding instead of the last character
            "1800000060." + sig[..42],                     // a character short
            "1800000060." + sig + "A",                     // a character over
            "1800000060." + sig[..20] + "+" + sig[21..],   // base64, not base64url
            "1800000060." + sig[..20] + "/" + sig[21..],
            "1800000060." + sig[..20] + "." + sig[21..],   // a second dot
            "1800000060." + sig[..20] + "~" + sig[21..],
            "0001800000060." + sig,                        // expiry of 13 digits
            new string('1', 40) + "." + sig,               // overlong
        };
    }

    [Theory]
    [MemberData(nameof(MalformedTokens))]
    public void Malformed_tokens_are_malformed(string token) =>
        Assert.Equal(TokenVerdict.Malformed, Tokens.Verify("presenter", token, Now));

    [Theory]
    [InlineData("0123456789abcdef0123456789abcde", false)]  // 31 bytes
    [InlineData("0123456789abcdef0123456789abcdef", true)]  // 32 bytes
    [InlineData("éééééééééééééééé", true)]                  // 16 characters, 32 UTF-8 bytes
    [InlineData("ééééééééééééééé", false)]                  // 30 UTF-8 bytes
    public void The_secret_is_its_utf8_bytes_at_least_32(string secret, bool accepted)
    {
        Assert.Equal(accepted, SignedTokens.SecretProblem(secret) is null);
        if (!accepted)
        {
            Assert.DoesNotContain(secret, SignedTokens.SecretProblem(secret), StringComparison.Ordinal);
            Assert.Throws<ArgumentException>(() => new SignedTokens(secret));
        }
    }

    // ---- at start ----

    [Theory]
    [InlineData("PEERJS_TOKEN_SECRET")]
    [InlineData("Signaling:TokenSecret")]
    public async Task A_short_secret_stops_the_service_with_a_clear_line_that_does_not_echo_it(string setting)
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(
            () => SignalingTestHost.StartAsync(new Dictionary<string, string?> { [setting] = "short-s3cret" }));
        Assert.Equal(
            $"{setting} must be at least 32 bytes of UTF-8 text (got 12); generate one with `Pathfinder.Signaling --generate-key`",
            ex.Message);
    }

    [Fact]
    public async Task A_bad_id_reservation_stops_the_service()
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(
            () => SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["ID_RESERVATION"] = "-1" }));
        Assert.Equal("ID_RESERVATION must be a whole number of milliseconds between 0 and 86400000 (0 = off), got '-1'", ex.Message);
    }

    // ---- on the wire, both ways an upgrade arrives ----

    private static Task<SignalingTestHost> StartSignedAsync(bool fastPath) =>
        SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["PEERJS_TOKEN_SECRET"] = Secret,
            ["Signaling:UpgradeFastPath"] = fastPath ? "true" : "false",
        });

    private static string Mint(string id, TimeSpan fromNow) =>
        Tokens.Mint(id, DateTimeOffset.UtcNow.Add(fromNow).ToUnixTimeSeconds());

    private static async Task AssertRefusedAsync(PeerClient client, string expected)
    {
        var frames = await client.WaitForCloseAsync();
        Assert.Equal([expected], frames);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, client.CloseStatus);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Forged_expired_foreign_and_malformed_tokens_get_error_and_close_never_open(bool fastPath)
    {
        await using var host = await StartSignedAsync(fastPath);
        var id = PeerClient.NewId();
        var cases = new (string Token, string Error)[]
        {
            (new SignedTokens(Secret + "-other").Mint(id, DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()), InvalidToken), // forged
            (Mint(PeerClient.NewId(), TimeSpan.FromHours(1)), InvalidToken),                                                       // another id's
            (Mint(id, TimeSpan.FromSeconds(-30)), TokenExpired),                                                                   // expired
            ("tok" + Guid.NewGuid().ToString("N")[..10], InvalidToken),                                                            // a plain peerjs token
            (Mint(id, TimeSpan.FromHours(1)) + "=", InvalidToken),                                                                 // padded
        };

        foreach (var (token, error) in cases)
        {
            await using var client = await PeerClient.OpenAsync(host.SocketUri, id, token);
            await AssertRefusedAsync(client, error);
        }

        // Nothing was registered: the owner's token gets the id.
        await using var owner = await PeerClient.ConnectAsync(host.SocketUri, id, Mint(id, TimeSpan.FromMinutes(5)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_valid_token_takes_the_id_over_at_once_and_the_old_socket_is_told_why(bool fastPath)
    {
        await using var host = await StartSignedAsync(fastPath);
        var id = PeerClient.NewId();
        await using var old = await PeerClient.ConnectAsync(host.SocketUri, id, Mint(id, TimeSpan.FromMinutes(10)));

        // The owner again (a reload: a freshly minted token), while the old socket still holds the id.
        await using var fresh = await PeerClient.ConnectAsync(host.SocketUri, id, Mint(id, TimeSpan.FromMinutes(11)));
        Assert.Equal([TakenOver], await old.WaitForCloseAsync());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, old.CloseStatus);

        // The old socket's close freed nothing: messages reach the new one.
        var senderId = PeerClient.NewId();
        await using var sender = await PeerClient.ConnectAsync(host.SocketUri, senderId, Mint(senderId, TimeSpan.FromMinutes(5)));
        await sender.SendToAsync("OFFER", id, """{"n":1}""");
        Assert.Equal(senderId, (await fresh.ReceiveJsonAsync()).GetProperty("src").GetString());
    }

    [Fact]
    public async Task Without_a_secret_another_token_still_gets_id_taken_and_any_token_is_accepted()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var id = PeerClient.NewId();
        await using var holder = await PeerClient.ConnectAsync(host.SocketUri, id, Mint(id, TimeSpan.FromSeconds(-30)));
        await using var other = await PeerClient.OpenAsync(host.SocketUri, id, Mint(id, TimeSpan.FromMinutes(5)));
        await AssertRefusedAsync(other, """{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}""");
    }

    [Fact]
    public async Task Refusals_are_logged_with_their_reason_and_a_takeover_with_the_new_sockets_address()
    {
        await using var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?> { ["PEERJS_TOKEN_SECRET"] = Secret, ["Logging:LogLevel:Pathfinder"] = "Information" },
            configureLogging: logging => logging.AddFakeLogging());
        var id = PeerClient.NewId();
        foreach (var token in new[] { "1800000060.x", Mint(PeerClient.NewId(), TimeSpan.FromHours(1)), Mint(id, TimeSpan.FromSeconds(-1)) })
        {
            await using var refused = await PeerClient.OpenAsync(host.SocketUri, id, token);
            await refused.WaitForCloseAsync();
        }

        await using var old = await PeerClient.ConnectAsync(host.SocketUri, id, Mint(id, TimeSpan.FromMinutes(1)));
        await using var fresh = await PeerClient.ConnectAsync(host.SocketUri, id, Mint(id, TimeSpan.FromMinutes(2)));
        await old.WaitForCloseAsync();

        var logs = host.Services.GetFakeLogCollector().GetSnapshot();
        Assert.Equal(
            ["token_malformed", "token_forged", "token_expired"],
            logs.Where(r => r.Id.Id == 3).Select(r => r.StructuredState!.First(kv => kv.Key == "Reason").Value));
        var takeover = Assert.Single(logs, r => r.Id.Id == 260);
        Assert.Equal($"[PeerJS] Id '{id}' taken over by a new connection from 127.0.0.1", takeover.Message);
        Assert.DoesNotContain(logs, r => r.Message.Contains(Secret, StringComparison.Ordinal));
    }

    // ---- reservations (without a backplane) ----

    [Fact]
    public void A_reservation_keeps_the_id_for_its_token_until_its_deadline()
    {
        var reservations = new IdReservations(reservationTicks: 100, capacity: 10);
        reservations.Reserve("a", "owner", now: 1000);
        Assert.False(reservations.MayClaim("a", "other", signedToken: false, now: 1099));
        Assert.True(reservations.MayClaim("a", "owner", signedToken: false, now: 1099));
        Assert.True(reservations.MayClaim("a", "other", signedToken: true, now: 1099)); // a verified signed token is the owner
        Assert.True(reservations.MayClaim("a", "other", signedToken: false, now: 1100)); // lapsed
        Assert.True(reservations.MayClaim("b", "anyone", signedToken: false, now: 1000));

        reservations.Reserve("c", "owner", now: 1000);
        reservations.Remove("c"); // claimed
        Assert.True(reservations.MayClaim("c", "other", signedToken: false, now: 1001));

        var off = new IdReservations(reservationTicks: 0, capacity: 10);
        off.Reserve("a", "owner", now: 1000);
        Assert.True(off.MayClaim("a", "other", signedToken: false, now: 1000));
    }

    [Fact]
    public void Reservations_are_capped_lapsed_ones_make_room_first()
    {
        var reservations = new IdReservations(reservationTicks: 100, capacity: 2);
        reservations.Reserve("a", "t", now: 0);
        reservations.Reserve("b", "t", now: 50);
        reservations.Reserve("c", "t", now: 60); // full of live reservations: c is free at once
        Assert.True(reservations.MayClaim("c", "other", signedToken: false, now: 61));
        Assert.False(reservations.MayClaim("b", "other", signedToken: false, now: 61));

        reservations.Reserve("d", "t", now: 120); // a has lapsed: its room goes to d
        Assert.False(reservations.MayClaim("d", "other", signedToken: false, now: 121));
        Assert.False(reservations.MayClaim("b", "other", signedToken: false, now: 121));

        reservations.RemoveLapsed(now: 1000);
        Assert.True(reservations.MayClaim("d", "other", signedToken: false, now: 1000));
    }

    // ---- mint-token ----

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    private static (int Exit, string Out, string Err) MintCommand(IConfiguration configuration, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = Commands.RunMintToken(args, configuration, new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(Now)), output, error);
        return (exit, output.ToString(), error.ToString().TrimEnd());
    }

    [Theory]
    [InlineData("PEERJS_TOKEN_SECRET")]
    [InlineData("Signaling:TokenSecret")]
    public void Mint_token_signs_for_the_id_with_the_configured_secret_and_prints_the_token_alone(string setting)
    {
        var (exit, output, error) = MintCommand(Config((setting, Secret)), "mint-token-ignored-name-check", "--id", "presenter", "--ttl", "600");
        Assert.Equal(2, exit); // an unexpected argument is refused
        Assert.Contains("unexpected argument", error, StringComparison.Ordinal);
        Assert.Empty(output);

        (exit, output, error) = MintCommand(Config((setting, Secret)), "--id", "presenter", "--ttl", "600");
        Assert.Equal(0, exit);
        Assert.Empty(error);
        Assert.Equal($"{Tokens.Mint("presenter", Now + 600)}{Environment.NewLine}", output);
    }

    [Theory]
    [InlineData(null, "presenter", "600", "mint-token: no token secret: set PEERJS_TOKEN_SECRET (or Signaling:TokenSecret) as for the service")]
    [InlineData("short", "presenter", "600", "mint-token: PEERJS_TOKEN_SECRET must be at least 32 bytes of UTF-8 text (got 5); generate one with `Pathfinder.Signaling --generate-key`")]
    [InlineData(Secret, "bad!id", "600", "mint-token: --id 'bad!id' is not a peer id: Invalid id provided: letters and digits, with single '-', '_' or ' ' between them, at most 64 characters")]
    [InlineData(Secret, "-lead", "600", "mint-token: --id '-lead' is not a peer id: Invalid id provided: letters and digits, with single '-', '_' or ' ' between them, at most 64 characters")]
    [InlineData(Secret, "presenter", "0", "mint-token: --ttl must be a whole number of seconds between 1 and 31622400, got '0'")]
    [InlineData(Secret, "presenter", "-5", "mint-token: --ttl must be a whole number of seconds between 1 and 31622400, got '-5'")]
    [InlineData(Secret, "presenter", "1h", "mint-token: --ttl must be a whole number of seconds between 1 and 31622400, got '1h'")]
    [InlineData(Secret, "presenter", "31622401", "mint-token: --ttl must be a whole number of seconds between 1 and 31622400, got '31622401'")]
    public void Mint_token_refuses_with_one_clear_line(string? secret, string id, string ttl, string expected)
    {
        var configuration = secret is null ? Config() : Config(("PEERJS_TOKEN_SECRET", secret));
        var (exit, output, error) = MintCommand(configuration, "--id", id, "--ttl", ttl);
        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.Equal(expected, error);
        if (secret is not null)
        {
            Assert.DoesNotContain(secret, error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Mint_token_needs_both_arguments()
    {
        var (exit, output, error) = MintCommand(Config(("PEERJS_TOKEN_SECRET", Secret)), "--id", "presenter");
        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.Equal("mint-token: --id and --ttl are required; usage: Pathfinder.Signaling mint-token --id ID --ttl SECONDS", error);
    }

    [Fact]
    public async Task The_token_the_mint_token_command_prints_connects_to_a_service_with_the_same_secret()
    {
        var id = PeerClient.NewId();
        await using var minted = await ServiceProcess.RunToExitAsync(
            new Dictionary<string, string?> { ["PEERJS_TOKEN_SECRET"] = Secret }, "mint-token", "--id", id, "--ttl", "600");
        Assert.Equal(0, minted.ExitCode);
        Assert.Empty(minted.Stderr);
        var token = minted.Stdout[^1];

        await using var host = await StartSignedAsync(fastPath: true);
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri, id, token);

        // The same command without a secret: exit code 2, one line on stderr, nothing on stdout.
        await using var refused = await ServiceProcess.RunToExitAsync(
            new Dictionary<string, string?> { ["PEERJS_TOKEN_SECRET"] = null }, "mint-token", "--id", id, "--ttl", "600");
        Assert.Equal(2, refused.ExitCode);
        Assert.Empty(refused.Stdout);
        Assert.Equal(["mint-token: no token secret: set PEERJS_TOKEN_SECRET (or Signaling:TokenSecret) as for the service"], refused.Stderr);
    }
}
