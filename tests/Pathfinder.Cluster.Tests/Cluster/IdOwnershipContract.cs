using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>
/// Ids nobody else can take (issue 16), written once for one replica (in memory, every index the same server) and for
/// two replicas on a real redis-server: id reservation after a close, and take-over by a valid signed token, with the
/// peers deliberately on different replicas.
/// </summary>
public abstract class IdOwnershipContract
{
    private const string Open = """{"type":"OPEN"}""";
    private const string IdTaken = """{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}""";
    private const string InvalidToken = """{"type":"ERROR","payload":{"msg":"Invalid token provided"}}""";
    private const string TakenOver = """{"type":"ERROR","payload":{"msg":"ID taken over by a newer connection"}}""";
    private const string Secret = "an-id-ownership-test-secret-of-32+bytes";

    /// <summary>A reservation long enough never to lapse during a test.</summary>
    private const string LongReservation = "600000";

    /// <summary>The reservation of the lapse test (ms): on Redis it is waited out in real time.</summary>
    protected const int ShortReservation = 4000;

    private static readonly SignedTokens Tokens = new(Secret);

    protected abstract Task<ClusterUnderTest> StartClusterAsync(IDictionary<string, string?> settings);

    /// <summary>Lets a reservation of <see cref="ShortReservation"/> made now run out (the clock that decides it).</summary>
    protected abstract void LetReservationLapse(ClusterUnderTest cluster);

    private Task<ClusterUnderTest> StartAsync(string? reservation = null, bool signed = false)
    {
        var settings = new Dictionary<string, string?>();
        if (reservation is not null)
        {
            settings["ID_RESERVATION"] = reservation;
        }

        if (signed)
        {
            settings["PEERJS_TOKEN_SECRET"] = Secret;
        }

        return StartClusterAsync(settings);
    }

    private static string Mint(ClusterUnderTest cluster, string id, int minutes = 60) =>
        Tokens.Mint(id, cluster.Time.GetUtcNow().AddMinutes(minutes).ToUnixTimeSeconds());

    private static async Task AssertRefusedAsync(Uri socket, string id, string token, string expected)
    {
        await using var client = await PeerClient.OpenAsync(socket, id, token);
        Assert.Equal([expected], await client.WaitForCloseAsync());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, client.CloseStatus);
    }

    [Fact]
    public async Task After_a_close_the_id_stays_reserved_for_its_token_on_every_replica()
    {
        await using var cluster = await StartAsync(LongReservation);
        var id = PeerClient.NewId();
        var owner = await PeerClient.ConnectAsync(cluster.Socket(0), id, token: "owner");
        await owner.DisposeAsync(); // a clean close: completes once the server has let the id go

        await AssertRefusedAsync(cluster.Socket(0), id, "squatter", IdTaken);
        await AssertRefusedAsync(cluster.Socket(1), id, "squatter", IdTaken);

        // Meanwhile a message to the id waits in its offline queue, as for any absent peer (no EXPIRE, no LEAVE).
        await using var sender = await PeerClient.ConnectAsync(cluster.Socket(1));
        await sender.SendToAsync("OFFER", id, """{"n":1}""");
        Assert.Empty(await sender.DrainWithMarkerAsync());

        // The same token gets it back, on another replica, with what was queued.
        await using var back = await PeerClient.ConnectAsync(cluster.Socket(1), id, token: "owner");
        Assert.Equal(sender.Id, (await back.ReceiveJsonAsync()).GetProperty("src").GetString());
        await AssertRefusedAsync(cluster.Socket(0), id, "squatter", IdTaken);
    }

    [Fact]
    public async Task A_heartbeat_timeout_reserves_the_id_too()
    {
        await using var cluster = await StartAsync(LongReservation);
        var id = PeerClient.NewId();
        await using var owner = await PeerClient.ConnectAsync(cluster.Socket(0), id, token: "owner");
        cluster.Time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(1, cluster[0].Services.GetRequiredService<PeerRouter>().SweepLiveness());
        await owner.WaitForCloseAsync();

        await AssertRefusedAsync(cluster.Socket(1), id, "squatter", IdTaken);
        await using var back = await PeerClient.ConnectAsync(cluster.Socket(1), id, token: "owner");
    }

    [Fact]
    public async Task Once_the_reservation_lapses_another_token_gets_the_id()
    {
        await using var cluster = await StartAsync(ShortReservation.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var id = PeerClient.NewId();
        var owner = await PeerClient.ConnectAsync(cluster.Socket(0), id, token: "owner");
        await owner.DisposeAsync();
        await AssertRefusedAsync(cluster.Socket(1), id, "next", IdTaken);

        LetReservationLapse(cluster);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var next = await PeerClient.OpenAsync(cluster.Socket(1), id, "next");
            var first = await next.ReceiveAsync();
            if (first == Open)
            {
                await next.DisposeAsync();
                break;
            }

            Assert.Equal(IdTaken, first);
            await next.DisposeAsync();
            Assert.True(DateTime.UtcNow < deadline, "the reservation never lapsed");
            await Task.Delay(100); // the pace of the poll; the deadline bounds it
        }
    }

    [Fact]
    public async Task Without_a_reservation_a_closed_id_is_free_at_once()
    {
        await using var cluster = await StartAsync();
        var id = PeerClient.NewId();
        var owner = await PeerClient.ConnectAsync(cluster.Socket(0), id, token: "owner");
        await owner.DisposeAsync();
        await using var next = await PeerClient.ConnectAsync(cluster.Socket(1), id, token: "next");
    }

    [Fact]
    public async Task A_valid_signed_token_takes_the_id_over_from_a_socket_on_another_replica_which_is_told_why()
    {
        await using var cluster = await StartAsync(signed: true);
        var id = PeerClient.NewId();
        await using var old = await PeerClient.ConnectAsync(cluster.Socket(0), id, Mint(cluster, id, 30));

        // A squatter's forged token and a token signed for another id change nothing.
        await AssertRefusedAsync(cluster.Socket(1), id, new SignedTokens(Secret + "!").Mint(id, cluster.Time.GetUtcNow().AddMinutes(5).ToUnixTimeSeconds()), InvalidToken);
        await AssertRefusedAsync(cluster.Socket(1), id, Mint(cluster, PeerClient.NewId()), InvalidToken);
        Assert.Empty(await old.DrainWithMarkerAsync());

        // The owner with a fresh token (a reload) while the old socket is still there: OPEN at once.
        await using var fresh = await PeerClient.ConnectAsync(cluster.Socket(1), id, Mint(cluster, id, 31));
        Assert.Equal([TakenOver], await old.WaitForCloseAsync());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, old.CloseStatus);

        var senderId = PeerClient.NewId();
        await using var sender = await PeerClient.ConnectAsync(cluster.Socket(0), senderId, Mint(cluster, senderId));
        await sender.SendToAsync("OFFER", id, """{"n":2}""");
        Assert.Equal(senderId, (await fresh.ReceiveJsonAsync()).GetProperty("src").GetString());
        Assert.Empty(await fresh.DrainWithMarkerAsync());
    }

    [Fact]
    public async Task With_signed_tokens_a_reserved_id_goes_to_a_valid_token_only()
    {
        await using var cluster = await StartAsync(LongReservation, signed: true);
        var id = PeerClient.NewId();
        var owner = await PeerClient.ConnectAsync(cluster.Socket(0), id, Mint(cluster, id, 30));
        await owner.DisposeAsync();

        await AssertRefusedAsync(cluster.Socket(1), id, "squatter", InvalidToken);
        await AssertRefusedAsync(cluster.Socket(1), id, Mint(cluster, id, -1), """{"type":"ERROR","payload":{"msg":"Token expired"}}""");
        await using var back = await PeerClient.ConnectAsync(cluster.Socket(1), id, Mint(cluster, id, 31));
    }
}

public sealed class InMemoryIdOwnershipTests : IdOwnershipContract
{
    protected override Task<ClusterUnderTest> StartClusterAsync(IDictionary<string, string?> settings) =>
        ClusterUnderTest.StartAsync(1, redis: null, settings);

    // Without Redis the reservation's deadline is on the replica's clock: the test's.
    protected override void LetReservationLapse(ClusterUnderTest cluster) => cluster.Time.Advance(TimeSpan.FromMilliseconds(ShortReservation));
}

public sealed class RedisIdOwnershipTests(RedisFixture redis) : IdOwnershipContract, IClassFixture<RedisFixture>
{
    protected override Task<ClusterUnderTest> StartClusterAsync(IDictionary<string, string?> settings) =>
        ClusterUnderTest.StartAsync(2, redis.Server.ConnectionString, settings);

    // In Redis the reservation is the key's expiry, on Redis' own clock: it runs out by itself.
    protected override void LetReservationLapse(ClusterUnderTest cluster)
    {
    }
}

/// <summary>The same contract on a 3-primary Redis Cluster: ids on every shard, sharded channels for the takeover.</summary>
public sealed class RedisClusterIdOwnershipTests(Backends backends) : IdOwnershipContract, IClassFixture<Backends>
{
    protected override Task<ClusterUnderTest> StartClusterAsync(IDictionary<string, string?> settings) =>
        backends.StartAsync("redis-cluster/3", settings);

    protected override void LetReservationLapse(ClusterUnderTest cluster)
    {
    }
}

/// <summary>The same contract on Garnet, the AppHost's zero-install Redis.</summary>
public sealed class GarnetIdOwnershipTests(Backends backends) : IdOwnershipContract, IClassFixture<Backends>
{
    protected override Task<ClusterUnderTest> StartClusterAsync(IDictionary<string, string?> settings) =>
        backends.StartAsync("garnet/2", settings);

    protected override void LetReservationLapse(ClusterUnderTest cluster)
    {
    }
}
