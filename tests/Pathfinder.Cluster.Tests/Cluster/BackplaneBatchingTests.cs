using System.Globalization;
using System.Text;
using Pathfinder.Signaling.Routing;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>
/// How relays cross Redis: a burst is routed by few script calls and published in bundles, nothing is lost or
/// reordered, a sender's messages to peers here never overtake its messages still on their way through Redis, and
/// offline-queue entries written by the previous version are still delivered and expired. Real redis-server.
/// </summary>
public sealed class BackplaneBatchingTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private async Task<long> RouteCallsAsync()
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{redis.Server.ConnectionString},allowAdmin=true");
        var info = await admin.GetServer(redis.Server.ConnectionString).InfoAsync("commandstats");
        long calls = 0;
        foreach (var pair in info.SelectMany(group => group))
        {
            if (pair.Key is "cmdstat_eval" or "cmdstat_evalsha")
            {
                // calls=N,usec=…
                var value = pair.Value;
                var start = value.IndexOf("calls=", StringComparison.Ordinal) + "calls=".Length;
                calls += long.Parse(value.AsSpan(start, value.IndexOf(',', start) - start), CultureInfo.InvariantCulture);
            }
        }

        return calls;
    }

    /// <summary>
    /// <paramref name="from"/> sends <paramref name="count"/> numbered messages back to back, even ones to
    /// <paramref name="even"/> and odd ones to <paramref name="odd"/>; each must arrive whole, stamped and in order.
    /// </summary>
    private static async Task AlternateAsync(PeerClient from, PeerClient even, PeerClient odd, int count, Func<int, string> type)
    {
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await from.SendToAsync(type(i), i % 2 == 0 ? even.Id : odd.Id, $$"""{"seq":{{i}}}""");
            }
        });

        async Task ExpectAsync(PeerClient to, int first)
        {
            for (var i = first; i < count; i += 2)
            {
                var message = await to.ReceiveJsonAsync();
                Assert.Equal(from.Id, message.GetProperty("src").GetString());
                Assert.Equal(i, message.GetProperty("payload").GetProperty("seq").GetInt32());
            }
        }

        await Task.WhenAll(ExpectAsync(even, 0), ExpectAsync(odd, 1), sending).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_burst_across_replicas_takes_far_fewer_script_calls_than_messages_and_keeps_its_order()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(2, redis.Server.ConnectionString);
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        await using var c = await PeerClient.ConnectAsync(cluster.Socket(1));

        const int count = 1000;
        var before = await RouteCallsAsync();
        await AlternateAsync(a, b, c, count, _ => "CANDIDATE");
        var calls = await RouteCallsAsync() - before;

        // 1000 messages sent back to back queue up behind the call in flight: each call carries many of them.
        Assert.InRange(calls, 1, count / 4);
        Assert.Empty(await b.DrainWithMarkerAsync());
        Assert.Empty(await c.DrainWithMarkerAsync());
    }

    [Fact]
    public async Task A_sender_alternating_between_local_and_remote_peers_keeps_every_destinations_order()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(2, redis.Server.ConnectionString);
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var local = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var remote = await PeerClient.ConnectAsync(cluster.Socket(1));

        await AlternateAsync(a, local, remote, 600, i => i % 3 == 0 ? "OFFER" : "CANDIDATE");
        Assert.Empty(await local.DrainWithMarkerAsync());
        Assert.Empty(await remote.DrainWithMarkerAsync());
        Assert.Empty(await a.DrainWithMarkerAsync());
    }

    [Fact]
    public async Task Offline_queue_entries_of_the_previous_format_are_still_delivered_and_expired()
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..10];
        await using var cluster = await ClusterUnderTest.StartAsync(
            2, redis.Server.ConnectionString, new Dictionary<string, string?> { ["Signaling:Cluster:KeyPrefix"] = prefix });
        await using var sender = await PeerClient.ConnectAsync(cluster.Socket(0));
        var keys = new RedisKeys(prefix);
        var waiting = PeerClient.NewId("waiting");
        var gone = PeerClient.NewId("gone");
        var frame = $$$"""{"type":"OFFER","src":"{{{sender.Id}}}","dst":"{{{waiting}}}","payload":{"sdp":"v=0"}}""";

        // What the previous version stored: "{src}\n{frame}" per entry, the id in the queues set by deadline.
        await using (var direct = await ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString))
        {
            var db = direct.GetDatabase();
            var deadline = cluster.Time.GetUtcNow().AddSeconds(5).ToUnixTimeMilliseconds();
            await db.ListRightPushAsync(keys.Queue(waiting), Encoding.UTF8.GetBytes($"{sender.Id}\n{frame}"));
            await db.SortedSetAddAsync(keys.Queues, waiting, deadline);
            await db.ListRightPushAsync(keys.Queue(gone), Encoding.UTF8.GetBytes(sender.Id + "\n" + """{"type":"OFFER"}"""));
            await db.SortedSetAddAsync(keys.Queues, gone, deadline);
        }

        await using var receiver = await PeerClient.ConnectAsync(cluster.Socket(1), waiting);
        Assert.Equal(frame, await receiver.ReceiveAsync());

        cluster.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(1, await cluster.SweepExpiredAsync());
        Assert.Equal($$"""{"type":"EXPIRE","src":"{{gone}}","dst":"{{sender.Id}}"}""", await sender.ReceiveAsync());
    }

    [Fact]
    public async Task A_due_queue_whose_id_is_held_is_being_handed_over_and_expires_only_once_nobody_holds_the_id()
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..10];
        await using var cluster = await ClusterUnderTest.StartAsync(
            2, redis.Server.ConnectionString, new Dictionary<string, string?> { ["Signaling:Cluster:KeyPrefix"] = prefix });
        await using var sender = await PeerClient.ConnectAsync(cluster.Socket(0));
        var keys = new RedisKeys(prefix);
        var handedOver = PeerClient.NewId("handedover");

        // A claim has set the lease and read the queue; the hand-over has not removed the entry yet.
        await using var direct = await ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString);
        var db = direct.GetDatabase();
        var deadline = cluster.Time.GetUtcNow().AddSeconds(5).ToUnixTimeMilliseconds();
        await db.ListRightPushAsync(keys.Queue(handedOver), Encoding.UTF8.GetBytes(sender.Id + "\n" + """{"type":"OFFER"}"""));
        await db.SortedSetAddAsync(keys.Queues, handedOver, deadline);
        await db.StringSetAsync(keys.Peer(handedOver), "elsewhere\nowner\n1", TimeSpan.FromMinutes(1));

        // Due, but held: not expired (its holder was handed the message); the next sweep looks again.
        cluster.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(0, await cluster.SweepExpiredAsync());
        Assert.True(await db.KeyExistsAsync(keys.Queue(handedOver)));

        // Nobody holds it any more (the claim was given up): it expires at the next sweep, and the sender hears it.
        await db.KeyDeleteAsync(keys.Peer(handedOver));
        cluster.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await cluster.SweepExpiredAsync());
        Assert.Equal($$"""{"type":"EXPIRE","src":"{{handedOver}}","dst":"{{sender.Id}}"}""", await sender.ReceiveAsync());
        Assert.False(await db.KeyExistsAsync(keys.Queue(handedOver)));
    }

    [Fact]
    public void The_envelope_writer_refuses_a_field_it_cannot_carry_instead_of_throwing()
    {
        static ClusterEnvelope With(string dst, string src = "src", string trace = "") => new(
            EnvelopeKind.Deliver, 0, Protocol.MessageType.Offer, 1, 0, dst, src, trace, "{}"u8.ToArray());

        Assert.False(With(new string('d', 70_000)).TryWriteFramed(out var framed));
        Assert.Null(framed);
        Assert.False(With(new string('d', 70_000)).TryWrite(out _));
        Assert.False(With("dst", src: new string('s', 70_000)).TryWrite(out _));
        Assert.False(With("dst", trace: new string('t', 70_000)).TryWriteFramed(out _));
        Assert.False(With(new string('ü', 40_000)).TryWrite(out _)); // 40,000 chars, 80,000 UTF-8 bytes
        Assert.True(default(ClusterEnvelope).TryWrite(out _)); // a default envelope's null fields do not throw either

        // The longest field that fits still round-trips.
        var longest = new string('d', ClusterEnvelope.MaxFieldBytes);
        Assert.True(With(longest).TryWrite(out var envelope));
        Assert.True(ClusterEnvelope.TryRead(envelope, out var read));
        Assert.Equal(longest, read.Dst);
    }

    [Fact]
    public void A_bundle_is_split_into_its_envelopes_and_a_malformed_one_is_refused()
    {
        Assert.True(Envelope("dst-1", "one").TryWriteFramed(out var first));
        Assert.True(Envelope("dst-2", "two").TryWriteFramed(out var second));
        var bundle = new byte[] { ClusterEnvelope.BundleMarker }.Concat(first).Concat(second).ToArray();

        var seen = new List<string>();
        Assert.True(ClusterEnvelope.ForEach(bundle, seen, Collect));
        Assert.Equal(["dst-1:one", "dst-2:two"], seen);

        seen.Clear();
        Assert.True(Envelope("dst-3", "bare").TryWrite(out var bare));
        Assert.True(ClusterEnvelope.ForEach(bare, seen, Collect));
        Assert.Equal(["dst-3:bare"], seen);

        seen.Clear();
        Assert.False(ClusterEnvelope.ForEach(bundle.AsMemory(..^3), seen, Collect)); // the second one is cut short
        Assert.Equal(["dst-1:one"], seen);
        Assert.False(ClusterEnvelope.ForEach(ReadOnlyMemory<byte>.Empty, seen, Collect));

        static void Collect(List<string> into, ReadOnlyMemory<byte> data)
        {
            Assert.True(ClusterEnvelope.TryRead(data, out var envelope));
            into.Add($"{envelope.Dst}:{Encoding.UTF8.GetString(envelope.Frame.Span)}");
        }

        static ClusterEnvelope Envelope(string dst, string frame) => new(
            EnvelopeKind.Deliver, 0, Protocol.MessageType.Candidate, 1, 0, dst, "src", string.Empty, Encoding.UTF8.GetBytes(frame));
    }
}
