using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>What happens when a replica crashes or Redis goes away — against real processes and a real redis-server.</summary>
public sealed class RedisFailureTests
{
    private static async Task<HttpStatusCode> HealthAsync(SignalingTestHost host)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var response = await http.GetAsync(new Uri(host.HttpBase, "/health"));
        return response.StatusCode;
    }

    /// <summary>Sends OFFERs from <paramref name="from"/> to <paramref name="to"/> until one arrives (bounded).</summary>
    private static Task<bool> RelayEventuallyWorksAsync(PeerClient from, PeerClient to, TimeSpan timeout)
    {
        var attempt = 0;
        return Poll.UntilAsync(
            async () =>
            {
                var marker = $"attempt-{attempt++}-{Guid.NewGuid():N}";
                await from.SendToAsync("OFFER", to.Id, JsonSerializer.Serialize(marker));
                try
                {
                    while (true)
                    {
                        var message = await to.ReceiveAsync(TimeSpan.FromMilliseconds(500));
                        if (message.Contains(marker, StringComparison.Ordinal))
                        {
                            return true;
                        }
                    }
                }
                catch (TimeoutException)
                {
                    return false;
                }
            },
            timeout,
            TimeSpan.Zero);
    }

    [Fact]
    public async Task A_crashed_replicas_ids_are_reclaimable_by_their_owner_at_once_and_by_others_after_the_lease()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = "crash" + Guid.NewGuid().ToString("N")[..8];
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["Signaling:Cluster:KeyPrefix"] = prefix,
            ["Signaling:Cluster:LeaseMilliseconds"] = "3000",
        };
        await using var survivor = await SignalingTestHost.StartAsync(settings);
        await using var doomed = await ServiceProcess.StartListeningAsync(new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["ConnectionStrings__redis"] = redis.ConnectionString,
            ["Signaling__Cluster__KeyPrefix"] = prefix,
            ["Signaling__Cluster__LeaseMilliseconds"] = "3000",
        });
        var doomedSocket = new Uri($"ws://127.0.0.1:{doomed.Port}/pathfinder/peerjs");

        var owned = PeerClient.NewId("owned");
        var orphan = PeerClient.NewId("orphan");
        var a = await PeerClient.ConnectAsync(doomedSocket, owned, token: "mine");
        var b = await PeerClient.ConnectAsync(doomedSocket, orphan, token: "theirs");
        await doomed.KillAsync();

        // The owner reconnecting (same token) on the surviving replica never sees ID-TAKEN.
        await using var back = await PeerClient.ConnectAsync(survivor.SocketUri, owned, token: "mine");

        // Someone else must wait for the lease to run out: the crashed replica's claim is a lease of the configured
        // length in Redis, which nobody renews...
        using (var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
        {
            var lease = await multiplexer.GetDatabase().KeyTimeToLiveAsync($"{prefix}:peer:{{{orphan}}}");
            Assert.True(lease is { } left && left > TimeSpan.Zero && left <= TimeSpan.FromMilliseconds(3000), $"lease of the orphaned id: {lease}");
        }

        await using (var early = await PeerClient.OpenAsync(survivor.SocketUri, orphan, token: "intruder"))
        {
            Assert.Contains("ID-TAKEN", await early.ReceiveAsync(), StringComparison.Ordinal);
        }

        // ...and gets the id once it has.
        PeerClient? winner = null;
        Assert.True(await Poll.UntilAsync(async () =>
        {
            var attempt = await PeerClient.OpenAsync(survivor.SocketUri, orphan, token: "intruder");
            if (await attempt.ReceiveAsync() == """{"type":"OPEN"}""")
            {
                winner = attempt;
                return true;
            }

            await attempt.DisposeAsync();
            return false;
        }, TimeSpan.FromSeconds(15)), "the orphaned id was never granted to someone else");
        await winner!.DisposeAsync();
        a.Socket.Dispose();
        b.Socket.Dispose();
    }

    [Fact]
    public async Task A_redis_restart_mid_session_degrades_then_recovers_without_a_restart()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await ClusterUnderTest.StartAsync(2, redis.ConnectionString, new Dictionary<string, string?>
        {
            ["Signaling:Cluster:LeaseMilliseconds"] = "3000",
        });
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var c = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        Assert.True(await RelayEventuallyWorksAsync(a, b, TimeSpan.FromSeconds(5)));
        Assert.Equal(HttpStatusCode.OK, await HealthAsync(cluster[0]));

        await redis.StopAsync();

        // Readiness reports the backplane; peers on the same replica keep relaying.
        Assert.True(await Poll.UntilAsync(async () => await HealthAsync(cluster[0]) != HttpStatusCode.OK, TimeSpan.FromSeconds(15)));
        await a.SendToAsync("OFFER", c.Id, "\"same replica\"");
        Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{c.Id}}","payload":"same replica"}""", await c.ReceiveAsync());

        // A message for a peer on another replica is not silently lost: the sender hears EXPIRE at once.
        await a.SendToAsync("OFFER", b.Id, "\"during outage\"");
        Assert.Equal($$"""{"type":"EXPIRE","src":"{{b.Id}}","dst":"{{a.Id}}"}""", await a.ReceiveAsync());

        await redis.StartAsync();

        Assert.True(await RelayEventuallyWorksAsync(a, b, TimeSpan.FromSeconds(20)), "cross-replica relay did not resume");
        Assert.True(await RelayEventuallyWorksAsync(b, a, TimeSpan.FromSeconds(5)));
        Assert.True(await Poll.UntilAsync(async () => await HealthAsync(cluster[0]) == HttpStatusCode.OK, TimeSpan.FromSeconds(15)));

        // Presence was re-registered: the ids are taken cluster-wide again.
        await using var intruder = await PeerClient.OpenAsync(cluster.Socket(0), b.Id, token: "intruder");
        Assert.Contains("ID-TAKEN", await intruder.ReceiveAsync(), StringComparison.Ordinal);
    }

    private const string Unavailable = """{"type":"ERROR","payload":{"msg":"Server cannot register IDs right now, please retry"}}""";

    /// <summary>Connects (a fresh id each attempt) until a replica grants an id, as a client retrying would (bounded).</summary>
    private static async Task<PeerClient> ConnectEventuallyAsync(Uri socket, TimeSpan timeout)
    {
        return await Poll.ForAsync(
            async () =>
            {
                var client = await PeerClient.OpenAsync(socket, PeerClient.NewId());
                var first = await client.ReceiveAsync();
                if (first == """{"type":"OPEN"}""")
                {
                    return client;
                }

                await client.DisposeAsync();
                Assert.Equal(Unavailable, first);
                return null;
            },
            timeout,
            "no id was granted after Redis came up",
            TimeSpan.FromMilliseconds(100));
    }

    /// <summary>True while the server has not closed the client's socket (a marker to itself still comes back).</summary>
    private static async Task<bool> IsOpenAsync(PeerClient client)
    {
        try
        {
            await client.DrainWithMarkerAsync();
            return true;
        }
        catch (Exception ex) when (ex is InvalidOperationException or WebSocketException or ObjectDisposedException or TimeoutException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_claim_while_redis_is_paused_is_refused_and_afterwards_no_id_is_held_by_two_sockets()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await ClusterUnderTest.StartAsync(2, redis.ConnectionString, new Dictionary<string, string?>
        {
            ["Signaling:Cluster:LeaseMilliseconds"] = "3000",
        });
        var held = PeerClient.NewId("held");
        var fresh = PeerClient.NewId("fresh");
        await using var holder = await PeerClient.ConnectAsync(cluster.Socket(0), held, token: "owner");

        // Paused longer than the lease: Redis answers nothing, and the holder's lease runs out meanwhile.
        redis.Pause();
        try
        {
            await using var intruder = await PeerClient.OpenAsync(cluster.Socket(1), held, token: "intruder");
            Assert.Equal([Unavailable], await intruder.WaitForCloseAsync());
            await using var newcomer = await PeerClient.OpenAsync(cluster.Socket(1), fresh, token: "newcomer");
            Assert.Equal([Unavailable], await newcomer.WaitForCloseAsync());
        }
        finally
        {
            redis.Resume();
        }

        // The refused claims left nothing behind once Redis ran them late: someone else gets the fresh id at once.
        await using (var later = await PeerClient.ConnectAsync(cluster.Socket(1), fresh, token: "later"))
        {
        }

        // Whoever Redis gives the held id to now, within one lease exactly one socket holds it: the one Redis names.
        var second = await PeerClient.OpenAsync(cluster.Socket(1), held, token: "second");
        await using var secondCleanup = second;
        var secondOpened = await second.ReceiveAsync() == """{"type":"OPEN"}""";
        using var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var leaseKey = $"{cluster[0].Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Configuration.ClusterOptions>>().Value.KeyPrefix}:peer:{{{held}}}";
        Assert.True(await Poll.UntilAsync(async () =>
        {
            var holderOpen = await IsOpenAsync(holder);
            var secondOpen = secondOpened && await IsOpenAsync(second);
            var lease = (string?)await multiplexer.GetDatabase().StringGetAsync(leaseKey);
            var token = lease?.Split('\n')[1];
            return holderOpen != secondOpen && token == (holderOpen ? "owner" : "second");
        }, TimeSpan.FromSeconds(3)), "after the pause, the id was not held by exactly the socket Redis names within one lease");
    }

    [Fact]
    public async Task A_claim_refused_while_redis_is_paused_leaves_the_offline_queue_to_the_next_claim()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await ClusterUnderTest.StartAsync(2, redis.ConnectionString);
        var absent = PeerClient.NewId("absent");
        await using var sender = await PeerClient.ConnectAsync(cluster.Socket(0));
        await sender.SendToAsync("OFFER", absent, "\"queued while absent\"");
        var prefix = cluster[0].Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Configuration.ClusterOptions>>().Value.KeyPrefix;
        using var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        Assert.True(
            await Poll.UntilAsync(async () => await multiplexer.GetDatabase().ListLengthAsync($"{prefix}:queue:{{{absent}}}") == 1, TimeSpan.FromSeconds(10)),
            "the OFFER to the absent id was not queued in Redis");

        // The owner's claim is sent while Redis is paused: the client is refused, and Redis runs the claim when it
        // resumes, after the client was told ERROR.
        redis.Pause();
        try
        {
            await using var refused = await PeerClient.OpenAsync(cluster.Socket(1), absent, token: "owner");
            Assert.Equal([Unavailable], await refused.WaitForCloseAsync());
        }
        finally
        {
            redis.Resume();
        }

        // That late claim took nothing away: the owner's retry is handed the queued OFFER after OPEN.
        await using var owner = await PeerClient.ConnectAsync(cluster.Socket(1), absent, token: "owner");
        Assert.Equal($$"""{"type":"OFFER","src":"{{sender.Id}}","dst":"{{absent}}","payload":"queued while absent"}""", await owner.ReceiveAsync());
        Assert.True(
            await Poll.UntilAsync(async () => !await multiplexer.GetDatabase().KeyExistsAsync($"{prefix}:queue:{{{absent}}}"), TimeSpan.FromSeconds(10)),
            "the handed-over OFFER was left in the Redis queue");
    }

    [Fact]
    public async Task A_take_over_whose_old_socket_leaves_during_the_claim_still_keeps_the_concurrent_limit()
    {
        const string open = """{"type":"OPEN"}""";
        const string limit = """{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}""";
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await ClusterUnderTest.StartAsync(1, redis.ConnectionString, new Dictionary<string, string?>
        {
            ["Signaling:ConcurrentLimit"] = "2",
        });
        var table = cluster[0].Services.GetRequiredService<Routing.LocalPeerTable>();
        var id = PeerClient.NewId("owned");
        await using var old = await PeerClient.ConnectAsync(cluster.Socket(0), id, token: "owner");
        await using var other = await PeerClient.ConnectAsync(cluster.Socket(0));

        var sockets = cluster[0].Services.GetRequiredService<Transport.ClientSocketLimiter>();
        Task<PeerClient> again, newcomer;
        redis.Pause();
        try
        {
            // The owner takes its id over on the replica that holds it (no slot needed); the claim waits on Redis
            // (and so does the client's upgrade: OPEN leaves with the 101)...
            again = PeerClient.OpenAsync(cluster.Socket(0), id, token: "owner");
            Assert.True(await Poll.UntilAsync(() => Task.FromResult(sockets.OpenFrom("127.0.0.1") == 3), TimeSpan.FromSeconds(10)), "the take-over never reached the service");
            // ...while the old socket goes away, which frees its slot here at once...
            old.Socket.Abort();
            Assert.True(await Poll.UntilAsync(() => Task.FromResult(table.Count == 1), TimeSpan.FromSeconds(10)), "the aborted socket was not let go");
            // ...and a newcomer claims that slot.
            newcomer = PeerClient.OpenAsync(cluster.Socket(0), PeerClient.NewId("newcomer"));
            Assert.True(await Poll.UntilAsync(() => Task.FromResult(sockets.OpenFrom("127.0.0.1") == 3), TimeSpan.FromSeconds(10)), "the newcomer never reached the service");
        }
        finally
        {
            redis.Resume();
        }

        await using var againCleanup = await again;
        await using var newcomerCleanup = await newcomer;
        string[] firsts = [await againCleanup.ReceiveAsync(), await newcomerCleanup.ReceiveAsync()];
        Assert.True(firsts.Order(StringComparer.Ordinal).SequenceEqual([limit, open]), string.Join(" / ", firsts));
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public async Task Redis_down_at_start_does_not_stop_the_service_and_the_cluster_forms_when_it_comes()
    {
        // Redis's address is known before it exists: the test holds the port (connections refused) until it starts.
        using var reserved = Ports.Reserve();
        await using var cluster = await ClusterUnderTest.StartAsync(2, reserved.Address);
        Assert.NotEqual(HttpStatusCode.OK, await HealthAsync(cluster[0]));

        // No id is granted without Redis: the client is told to retry.
        await using (var early = await PeerClient.OpenAsync(cluster.Socket(0), PeerClient.NewId()))
        {
            Assert.Equal([Unavailable], await early.WaitForCloseAsync());
        }

        reserved.Dispose();
        await using var redis = await RedisServer.StartAsync(reserved.Port);
        await using var a = await ConnectEventuallyAsync(cluster.Socket(0), TimeSpan.FromSeconds(20));
        await using var b = await ConnectEventuallyAsync(cluster.Socket(1), TimeSpan.FromSeconds(20));
        Assert.True(await RelayEventuallyWorksAsync(a, b, TimeSpan.FromSeconds(20)), "cross-replica relay did not start");
        Assert.True(await Poll.UntilAsync(async () => await HealthAsync(cluster[1]) == HttpStatusCode.OK, TimeSpan.FromSeconds(15)));
    }
}

