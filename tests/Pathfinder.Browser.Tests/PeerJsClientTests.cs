using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Pathfinder.Browser.Tests;

/// <summary>
/// The real peerjs 1.5.5 client in Chromium against the signaling service, with real WebRTC inside the private
/// network namespace. Every wait is bounded; each test also has an overall timeout.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed partial class PeerJsClientTests(BrowserFixture browser, ITestOutputHelper output)
{
    private const int TestTimeout = 120_000;

    [GeneratedRegex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", RegexOptions.IgnoreCase)]
    private static partial Regex UuidLike();

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    [Fact(Timeout = TestTimeout)]
    public async Task Attendee_with_a_server_assigned_id_opens_a_DataConnection_to_the_presenter_and_messages_flow_both_ways()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var presenterId = Unique("presenter");

        await using var presenter = await PeerPage.OpenAsync(browser, "presenter", output);
        await presenter.StartAsync(host, presenterId);
        var presenterOpen = await presenter.WaitOpenOrErrorAsync();
        Assert.Null(presenterOpen.Error);
        Assert.Equal(presenterId, presenterOpen.Id);

        await using var attendee = await PeerPage.OpenAsync(browser, "attendee", output);
        await attendee.StartAsync(host, id: null);
        var attendeeOpen = await attendee.WaitOpenOrErrorAsync();
        Assert.Null(attendeeOpen.Error);
        var attendeeId = Assert.IsType<string>(attendeeOpen.Id);
        Assert.Matches(UuidLike(), attendeeId);

        var clock = Stopwatch.StartNew();
        await attendee.ConnectAsync(presenterId);
        var outgoing = await attendee.WaitOutgoingOpenAsync();
        var incoming = await presenter.WaitIncomingOpenAsync();
        output.WriteLine($"DataConnection open on both sides after {clock.ElapsedMilliseconds} ms");
        Assert.Equal(presenterId, outgoing.Peer);
        Assert.Equal(attendeeId, incoming.Peer);

        var toPresenter = $"hello presenter, from {attendeeId} — ünïcödé ✓";
        await attendee.SendAsync(toPresenter);
        var atPresenter = await presenter.WaitMessageAsync(0);
        Assert.Equal(attendeeId, atPresenter.From);
        Assert.Equal(toPresenter, atPresenter.Data);

        var toAttendee = $"hello attendee, from {presenterId} — 🎤";
        await presenter.SendAsync(toAttendee);
        var atAttendee = await attendee.WaitMessageAsync(0);
        Assert.Equal(presenterId, atAttendee.From);
        Assert.Equal(toAttendee, atAttendee.Data);

        Assert.Empty(await presenter.ErrorsAsync());
        Assert.Empty(await attendee.ErrorsAsync());
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Presenter_and_attendee_on_different_replicas_sharing_a_real_redis_connect_and_talk()
    {
        await using var redis = await RedisServer.StartAsync();
        var cluster = new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["Signaling:Cluster:KeyPrefix"] = Unique("browser"),
        };
        await using var replicaA = await SignalingTestHost.StartAsync(cluster);
        await using var replicaB = await SignalingTestHost.StartAsync(cluster);
        var presenterId = Unique("presenter");

        await using var presenter = await PeerPage.OpenAsync(browser, "presenter", output);
        await presenter.StartAsync(replicaA, presenterId);
        Assert.Null((await presenter.WaitOpenOrErrorAsync()).Error);

        await using var attendee = await PeerPage.OpenAsync(browser, "attendee", output);
        await attendee.StartAsync(replicaB, id: null);
        var attendeeOpen = await attendee.WaitOpenOrErrorAsync();
        Assert.Null(attendeeOpen.Error);
        var attendeeId = Assert.IsType<string>(attendeeOpen.Id);

        // Every OFFER, ANSWER and CANDIDATE between them crosses Redis.
        await attendee.ConnectAsync(presenterId);
        Assert.Equal(presenterId, (await attendee.WaitOutgoingOpenAsync()).Peer);
        Assert.Equal(attendeeId, (await presenter.WaitIncomingOpenAsync()).Peer);

        await attendee.SendAsync("across replicas →");
        Assert.Equal("across replicas →", (await presenter.WaitMessageAsync(0)).Data);
        await presenter.SendAsync("← and back");
        Assert.Equal("← and back", (await attendee.WaitMessageAsync(0)).Data);
        Assert.Empty(await presenter.ErrorsAsync());
        Assert.Empty(await attendee.ErrorsAsync());
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Connecting_to_an_unknown_id_yields_peer_unavailable()
    {
        const int expireTimeout = 1000;
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Signaling:ExpireTimeout"] = expireTimeout.ToString(),
            ["Signaling:CleanupOutMsgs"] = "200",
        });
        var attendeeId = Unique("attendee");
        var nobody = Unique("nobody");

        await using var attendee = await PeerPage.OpenAsync(browser, "attendee", output);
        await attendee.StartAsync(host, attendeeId);
        var open = await attendee.WaitOpenOrErrorAsync();
        Assert.Null(open.Error);
        Assert.Equal(attendeeId, open.Id);

        var clock = Stopwatch.StartNew();
        await attendee.ConnectAsync(nobody);
        var error = await attendee.WaitErrorAsync();
        output.WriteLine($"'{error.Type}' after {clock.ElapsedMilliseconds} ms (expire timeout {expireTimeout} ms)");
        Assert.Equal("peer-unavailable", error.Type);
        Assert.Equal($"Could not connect to peer {nobody}", error.Message);

        // EXPIRE is an error about one connection, not about the peer: it stays registered.
        var status = await attendee.StatusAsync();
        Assert.True(status.Open, "the peer must stay connected to the server");
        Assert.False(status.Disconnected);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Claiming_a_taken_id_yields_unavailable_id_and_leaves_the_holder_reachable()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var id = Unique("taken");

        await using var holder = await PeerPage.OpenAsync(browser, "holder", output);
        await holder.StartAsync(host, id);
        var holderOpen = await holder.WaitOpenOrErrorAsync();
        Assert.Null(holderOpen.Error);
        Assert.Equal(id, holderOpen.Id);

        await using var claimant = await PeerPage.OpenAsync(browser, "claimant", output);
        await claimant.StartAsync(host, id);
        var claim = await claimant.WaitOpenOrErrorAsync();
        Assert.Null(claim.Id);
        var error = Assert.IsType<PeerError>(claim.Error);
        Assert.Equal("unavailable-id", error.Type);
        Assert.Equal($"ID \"{id}\" is taken", error.Message);

        var holderStatus = await holder.StatusAsync();
        Assert.Equal(new PeerStatus(id, Open: true, Disconnected: false, Destroyed: false), holderStatus);

        // The rejected claim must not have unregistered the holder: signaling still reaches it.
        await using var visitor = await PeerPage.OpenAsync(browser, "visitor", output);
        await visitor.StartAsync(host, Unique("visitor"));
        Assert.Null((await visitor.WaitOpenOrErrorAsync()).Error);
        await visitor.ConnectAsync(id);
        Assert.Equal(id, (await visitor.WaitOutgoingOpenAsync()).Peer);
        await holder.WaitIncomingOpenAsync();
        Assert.Empty(await holder.ErrorsAsync());
    }
}
