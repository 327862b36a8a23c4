using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>
/// The scale-out behaviour, written once: N replicas behave exactly as one PeerJS server. A theory over
/// <see cref="Backends.Targets"/>: the in-memory default (one replica: every index is the same server), a real
/// redis-server with two and three replicas, and a 3-primary Redis Cluster with three replicas. Peers are deliberately
/// placed on different replicas.
/// </summary>
public sealed class ScaleOutContract(Backends backends) : IClassFixture<Backends>
{
    private const string Open = """{"type":"OPEN"}""";
    private const string IdTaken = """{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}""";

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task Every_replica_is_ready_on_its_backend(string backend)
    {
        // Readiness (/health) must hold on every backend: a check that a Redis Cluster or Garnet cannot answer would
        // keep every replica out of its load balancer.
        await using var cluster = await backends.StartAsync(backend);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var replica in cluster.Replicas)
        {
            string body = string.Empty;
            var ready = await Poll.UntilAsync(async () =>
            {
                using var response = await http.GetAsync(new Uri(replica.HttpBase, "/health"));
                body = await response.Content.ReadAsStringAsync();
                return response.StatusCode == System.Net.HttpStatusCode.OK;
            }, TimeSpan.FromSeconds(15));
            Assert.True(ready, $"/health of {replica.HttpBase}: {body}");
            Assert.Equal("Healthy", body);
        }
    }

    [Theory]
    [MemberData(nameof(Backends.RedisTargets), MemberType = typeof(Backends))]
    public async Task A_replica_loads_every_script_into_each_primary_before_it_takes_peers(string backend)
    {
        // The first script a server runs can be slow (Garnet starts its Lua engine on it): a replica that left it to
        // the first claim had that claim refused under load. Start from empty script caches.
        var options = StackExchange.Redis.ConfigurationOptions.Parse(await backends.ConnectionAsync(backend));
        options.AllowAdmin = true;
        await using var direct = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(options);
        var primaries = direct.GetServers().Where(server => !server.IsReplica).ToList();
        Assert.NotEmpty(primaries);
        foreach (var primary in primaries)
        {
            await primary.ScriptFlushAsync();
        }

        await using var cluster = await backends.StartAsync(backend);
        Assert.NotEmpty(RedisPeerDirectory.LuaScripts);
        foreach (var primary in primaries)
        {
            var missing = new List<int>();
            var loaded = await Poll.UntilAsync(
                async () =>
                {
                    missing.Clear();
                    for (var i = 0; i < RedisPeerDirectory.LuaScripts.Count; i++)
                    {
                        if (!await primary.ScriptExistsAsync(RedisPeerDirectory.LuaScripts[i]))
                        {
                            missing.Add(i);
                        }
                    }

                    return missing.Count == 0;
                },
                TimeSpan.FromSeconds(15));
            Assert.True(loaded, $"scripts {string.Join(", ", missing)} of {RedisPeerDirectory.LuaScripts.Count} are not in {primary.EndPoint}'s cache (no peer has connected)");
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task Relay_across_replicas_is_rebuilt_stamped_and_ordered(string backend)
    {
        await using var cluster = await backends.StartAsync(backend);
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));

        const string payload = """{"sdp":{"type":"offer","sdp":"v=0\r\n"},"connectionId":"dc_1","name":"Zoë 🎉"}""";
        await a.SendAsync($$$"""{"type":"OFFER","src":"spoof","dst":"{{{b.Id}}}","payload":{{{payload}}},"extra":true}""");
        Assert.Equal($$$"""{"type":"OFFER","src":"{{{a.Id}}}","dst":"{{{b.Id}}}","payload":{{{payload}}}}""", await b.ReceiveAsync());

        const int count = 300;
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await a.SendToAsync("CANDIDATE", b.Id, $$"""{"seq":{{i}}}""");
            }
        });
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(i, (await b.ReceiveJsonAsync()).GetProperty("payload").GetProperty("seq").GetInt32());
        }

        await sending;
        await b.SendToAsync("ANSWER", a.Id);
        Assert.Equal($$"""{"type":"ANSWER","src":"{{b.Id}}","dst":"{{a.Id}}"}""", await a.ReceiveAsync());
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task A_dst_outside_the_id_rule_gets_error_on_every_replica_and_the_sender_stays(string backend)
    {
        // A 70,000-character dst used to throw in the cluster envelope writer and close the sender.
        await using var cluster = await backends.StartAsync(backend, new Dictionary<string, string?> { ["Signaling:MaxMessageBytes"] = "131072" });
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        for (var r = 0; r < 3; r++)
        {
            await using var a = await PeerClient.ConnectAsync(cluster.Socket(r));
            foreach (var dst in new[] { new string('x', 70_000), "bad.dst", "line\nbreak", new string('y', 65) })
            {
                await a.SendToAsync("OFFER", dst, "1");
                Assert.StartsWith("""{"type":"ERROR","payload":{"msg":"Invalid dst""", await a.ReceiveAsync(), StringComparison.Ordinal);
            }

            await a.SendToAsync("OFFER", b.Id, "2");
            Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{b.Id}}","payload":2}""", await b.ReceiveAsync());
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task An_id_is_taken_cluster_wide_and_the_holder_is_unaffected(string backend)
    {
        await using var cluster = await backends.StartAsync(backend);
        var id = PeerClient.NewId();
        await using var holder = await PeerClient.ConnectAsync(cluster.Socket(0), id, token: "owner");
        for (var r = 0; r < 3; r++)
        {
            await using var intruder = await PeerClient.OpenAsync(cluster.Socket(r), id, token: "intruder");
            Assert.Equal([IdTaken], await intruder.WaitForCloseAsync());
        }

        await using var other = await PeerClient.ConnectAsync(cluster.Socket(1));
        await other.SendToAsync("OFFER", id, "1");
        Assert.Equal(other.Id, (await holder.ReceiveJsonAsync()).GetProperty("src").GetString());
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task Racing_claims_on_different_replicas_have_exactly_one_winner(string backend)
    {
        await using var cluster = await backends.StartAsync(backend);
        for (var round = 0; round < 3; round++)
        {
            var id = PeerClient.NewId("race");
            var clients = await Task.WhenAll(Enumerable.Range(0, 9)
                .Select(i => PeerClient.OpenAsync(cluster.Socket(i), id, token: $"t{i}")));
            try
            {
                var firsts = await Task.WhenAll(clients.Select(c => c.ReceiveAsync()));
                Assert.Equal(1, firsts.Count(f => f == Open));
                Assert.Equal(8, firsts.Count(f => f == IdTaken));
            }
            finally
            {
                foreach (var client in clients)
                {
                    await client.DisposeAsync();
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task Same_id_and_token_on_another_replica_takes_over_and_the_old_socket_closes(string backend)
    {
        await using var cluster = await backends.StartAsync(backend);
        var id = PeerClient.NewId();
        await using var old = await PeerClient.ConnectAsync(cluster.Socket(0), id, token: "same");
        await using var fresh = await PeerClient.ConnectAsync(cluster.Socket(1), id, token: "same");
        await old.WaitForCloseAsync();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, old.CloseStatus);

        await using var sender = await PeerClient.ConnectAsync(cluster.Socket(2));
        await sender.SendToAsync("OFFER", id, "1");
        Assert.Equal(sender.Id, (await fresh.ReceiveJsonAsync()).GetProperty("src").GetString());
        Assert.Empty(await fresh.DrainWithMarkerAsync());
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task The_offline_queue_is_delivered_when_the_destination_connects_to_any_replica(string backend)
    {
        await using var cluster = await backends.StartAsync(backend);
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        var late = PeerClient.NewId("late");
        await a.SendToAsync("OFFER", late, "1");
        await a.SendToAsync("LEAVE", late, "2");
        await a.SendToAsync("CANDIDATE", late, "3");
        Assert.Empty(await a.DrainWithMarkerAsync());

        await using var b = await PeerClient.OpenAsync(cluster.Socket(1), late);
        Assert.Equal(Open, await b.ReceiveAsync());
        Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{late}}","payload":1}""", await b.ReceiveAsync());
        Assert.Equal($$"""{"type":"CANDIDATE","src":"{{a.Id}}","dst":"{{late}}","payload":3}""", await b.ReceiveAsync());
        Assert.Empty(await b.DrainWithMarkerAsync());
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public Task Queued_then_live_messages_arrive_in_order_while_the_destination_connects_elsewhere(string backend) =>
        QueuedThenLiveInOrderAsync(backend, destinationReplica: 1);

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public Task Queued_then_live_messages_arrive_in_order_while_the_destination_connects_on_the_senders_replica(string backend) =>
        QueuedThenLiveInOrderAsync(backend, destinationReplica: 0);

    private async Task QueuedThenLiveInOrderAsync(string backend, int destinationReplica)
    {
        await using var cluster = await backends.StartAsync(backend);
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        var target = PeerClient.NewId("late");
        const int count = 200;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await a.SendToAsync("CANDIDATE", target, $$"""{"seq":{{i}}}""");
                if (i == count / 4)
                {
                    started.SetResult();
                }
            }
        });

        await started.Task.WaitAsync(PeerClient.DefaultTimeout);
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(destinationReplica), target);
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(i, (await b.ReceiveJsonAsync()).GetProperty("payload").GetProperty("seq").GetInt32());
        }

        await sending;
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task Expire_reaches_the_sender_on_its_replica_exactly_once(string backend)
    {
        await using var cluster = await backends.StartAsync(backend);
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(1));
        var x = PeerClient.NewId("x");
        await a.SendToAsync("OFFER", x, "1");
        await a.SendToAsync("CANDIDATE", x, "2");
        Assert.Empty(await a.DrainWithMarkerAsync());

        cluster.Time.Advance(TimeSpan.FromMilliseconds(4990));
        Assert.Equal(0, await cluster.SweepExpiredAsync());
        cluster.Time.Advance(TimeSpan.FromMilliseconds(20));
        Assert.Equal(1, await cluster.SweepExpiredAsync());
        Assert.Equal(0, await cluster.SweepExpiredAsync());

        Assert.Equal($$"""{"type":"EXPIRE","src":"{{x}}","dst":"{{a.Id}}"}""", await a.ReceiveAsync());
        Assert.Empty(await a.DrainWithMarkerAsync());

        await using var lateX = await PeerClient.ConnectAsync(cluster.Socket(2), x);
        Assert.Empty(await lateX.DrainWithMarkerAsync());
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task A_full_offline_queue_tells_the_sender_once(string backend)
    {
        await using var cluster = await backends.StartAsync(backend, new Dictionary<string, string?> { ["Signaling:OfflineQueuePerPeer"] = "2" });
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        var x = PeerClient.NewId("x");
        for (var i = 0; i < 5; i++)
        {
            await a.SendToAsync("CANDIDATE", x, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal([$$"""{"type":"EXPIRE","src":"{{x}}","dst":"{{a.Id}}"}"""], await a.DrainWithMarkerAsync());
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1), x);
        Assert.Equal(0, (await b.ReceiveJsonAsync()).GetProperty("payload").GetInt32());
        Assert.Equal(1, (await b.ReceiveJsonAsync()).GetProperty("payload").GetInt32());
        Assert.Empty(await b.DrainWithMarkerAsync());
    }

    private static string Expire(string from, string to) => $$"""{"type":"EXPIRE","src":"{{from}}","dst":"{{to}}"}""";

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task Concurrent_limit_is_exact_for_simultaneous_connects_on_a_freshly_started_replica(string backend)
    {
        await using var cluster = await backends.StartAsync(backend, new Dictionary<string, string?> { ["Signaling:ConcurrentLimit"] = "8" });
        var clients = await Task.WhenAll(Enumerable.Range(0, 14)
            .Select(i => PeerClient.OpenAsync(cluster.Socket(0), PeerClient.NewId($"limit{i}"))));
        try
        {
            var firsts = await Task.WhenAll(clients.Select(c => c.ReceiveAsync()));
            Assert.Equal(8, firsts.Count(f => f == Open));
            Assert.Equal(6, firsts.Count(f => f == """{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}"""));
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task A_senders_offline_budget_refuses_with_expire_at_once_and_is_given_back_exactly(string backend)
    {
        await using var cluster = await backends.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Signaling:OfflineQueuePerSender"] = "3",
            ["Signaling:MaxMessageBytes"] = "16384",
            ["Signaling:OfflineQueuePerSenderBytes"] = "16384",
        });
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        var ids = Enumerable.Range(0, 5).Select(i => PeerClient.NewId($"absent{i}")).ToArray();
        foreach (var id in ids)
        {
            await a.SendToAsync("OFFER", id, "1");
        }

        // Three queued; past the sender's budget EXPIRE comes at once and nothing is queued.
        Assert.Equal([Expire(ids[3], a.Id), Expire(ids[4], a.Id)], await a.DrainWithMarkerAsync());

        // The budget is the sender's own: another sender still queues.
        await b.SendToAsync("OFFER", ids[4], "2");
        Assert.Empty(await b.DrainWithMarkerAsync());

        // Delivery gives the share back: exactly one more fits.
        await using (var first = await PeerClient.ConnectAsync(cluster.Socket(1), ids[0]))
        {
            Assert.Equal(a.Id, (await first.ReceiveJsonAsync()).GetProperty("src").GetString());
        }

        var more = new[] { PeerClient.NewId("more"), PeerClient.NewId("more") };
        await a.SendToAsync("OFFER", more[0], "3");
        await a.SendToAsync("OFFER", more[1], "4");
        Assert.Equal([Expire(more[1], a.Id)], await a.DrainWithMarkerAsync());

        // Expiry gives the shares back too: the sender's whole budget is free again, no more, no less.
        cluster.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(4, await cluster.SweepExpiredAsync());
        var expired = new[] { await a.ReceiveAsync(), await a.ReceiveAsync(), await a.ReceiveAsync() };
        Assert.Equal(new[] { Expire(ids[1], a.Id), Expire(ids[2], a.Id), Expire(more[0], a.Id) }.Order(), expired.Order());
        Assert.Equal(Expire(ids[4], b.Id), await b.ReceiveAsync());

        var again = Enumerable.Range(0, 4).Select(i => PeerClient.NewId($"again{i}")).ToArray();
        foreach (var id in again)
        {
            await a.SendToAsync("CANDIDATE", id, "5");
        }

        Assert.Equal([Expire(again[3], a.Id)], await a.DrainWithMarkerAsync());

        // The sender's bytes: one large message fits in 16 KiB, a second one does not.
        var large = JsonSerializer.Serialize(new string('x', 10_000));
        var big = new[] { PeerClient.NewId("big"), PeerClient.NewId("big") };
        await using var c = await PeerClient.ConnectAsync(cluster.Socket(0));
        await c.SendToAsync("OFFER", big[0], large);
        await c.SendToAsync("OFFER", big[1], large);
        Assert.Equal([Expire(big[1], c.Id)], await c.DrainWithMarkerAsync());
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task The_total_offline_budget_is_shared_by_all_senders_and_given_back_on_delivery(string backend)
    {
        await using var cluster = await backends.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Signaling:OfflineQueueTotalMessages"] = "4",
            ["Signaling:MaxMessageBytes"] = "16384",
            ["Signaling:OfflineQueueTotalBytes"] = "16384",
        });
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        var ids = Enumerable.Range(0, 3).Select(i => PeerClient.NewId($"absent{i}")).ToArray();
        foreach (var id in ids)
        {
            await a.SendToAsync("OFFER", id, "1");
        }

        Assert.Empty(await a.DrainWithMarkerAsync());
        var other = new[] { PeerClient.NewId("other"), PeerClient.NewId("other") };
        await b.SendToAsync("OFFER", other[0], "2");
        await b.SendToAsync("OFFER", other[1], "3");
        Assert.Equal([Expire(other[1], b.Id)], await b.DrainWithMarkerAsync());

        // Every queue delivered: the whole total is free again.
        foreach (var id in ids.Append(other[0]))
        {
            await using var late = await PeerClient.ConnectAsync(cluster.Socket(1), id);
            Assert.Equal("OFFER", (await late.ReceiveJsonAsync()).GetProperty("type").GetString());
        }

        // Bytes: one large message fits in the 16 KiB total, a second one (another sender) does not.
        var large = JsonSerializer.Serialize(new string('x', 10_000));
        var big = new[] { PeerClient.NewId("big"), PeerClient.NewId("big") };
        await a.SendToAsync("OFFER", big[0], large);
        Assert.Empty(await a.DrainWithMarkerAsync());
        await b.SendToAsync("OFFER", big[1], large);
        Assert.Equal([Expire(big[1], b.Id)], await b.DrainWithMarkerAsync());

        await using (var late = await PeerClient.ConnectAsync(cluster.Socket(0), big[0]))
        {
            Assert.Equal(a.Id, (await late.ReceiveJsonAsync()).GetProperty("src").GetString());
        }

        var four = Enumerable.Range(0, 5).Select(i => PeerClient.NewId($"four{i}")).ToArray();
        foreach (var id in four)
        {
            await b.SendToAsync("CANDIDATE", id, "4");
        }

        Assert.Equal([Expire(four[4], b.Id)], await b.DrainWithMarkerAsync());
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task Peers_lists_the_peers_of_every_replica(string backend)
    {
        await using var cluster = await backends.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Signaling:AllowDiscovery"] = "true",
            ["Signaling:IdReservation"] = "600000",
        });
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        await using var c = await PeerClient.ConnectAsync(cluster.Socket(2));
        // A peer that left: its id stays reserved for its token, but no replica holds it, so it is not listed.
        var gone = await PeerClient.ConnectAsync(cluster.Socket(0));
        await gone.DisposeAsync();
        using var http = new HttpClient();
        foreach (var replica in cluster.Replicas)
        {
            string[] ids = [];
            Assert.True(
                await Poll.UntilAsync(
                    async () =>
                    {
                        ids = JsonSerializer.Deserialize<string[]>(await http.GetStringAsync(new Uri(replica.ApiBase + "/pathfinder/peers")))!;
                        return ids.Order().SequenceEqual(new[] { a.Id, b.Id, c.Id }.Order());
                    },
                    TimeSpan.FromSeconds(10)),
                $"listed: {string.Join(", ", ids)}; expected {a.Id}, {b.Id}, {c.Id} (and not {gone.Id})");
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task A_clean_close_releases_the_id_cluster_wide_at_once(string backend)
    {
        await using var cluster = await backends.StartAsync(backend);
        var id = PeerClient.NewId();
        var first = await PeerClient.ConnectAsync(cluster.Socket(0), id, token: "one");
        await first.DisposeAsync();
        await using var second = await PeerClient.ConnectAsync(cluster.Socket(1), id, token: "two");
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task A_peer_dropped_for_missing_heartbeats_frees_its_id_everywhere(string backend)
    {
        await using var cluster = await backends.StartAsync(backend);
        var id = PeerClient.NewId();
        await using var peer = await PeerClient.ConnectAsync(cluster.Socket(0), id, token: "one");
        cluster.Time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(1, cluster[0].Services.GetRequiredService<PeerRouter>().SweepLiveness());
        await peer.WaitForCloseAsync();
        await using var again = await PeerClient.ConnectAsync(cluster.Socket(1), id, token: "two");
    }

    [Theory]
    [MemberData(nameof(Backends.Targets), MemberType = typeof(Backends))]
    public async Task Leave_reaches_the_sender_when_delivery_fails_on_the_receivers_replica(string backend)
    {
        await using var cluster = await backends.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Signaling:SendQueueCapacity"] = "16",
            // The receiver's queue is under test, not the sender's relay rate (issue 14): it must not refuse first.
            ["Signaling:RelayByteBurst"] = "1000000000",
        });
        await using var sender = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var stuck = await PeerClient.ConnectAsync(cluster.Socket(1), read: false); // never reads
        var leave = $$"""{"type":"LEAVE","src":"{{stuck.Id}}","dst":"{{sender.Id}}"}""";
        var gotLeave = Task.Run(async () =>
        {
            while (await sender.ReceiveAsync(TimeSpan.FromSeconds(30)) != leave)
            {
            }
        });

        var chunk = new string('s', 60_000); // under MaxMessageBytes (64 KiB by default since issue 14)
        for (var i = 0; i < 1000 && !gotLeave.IsCompleted; i++)
        {
            await sender.SendToAsync("CANDIDATE", stuck.Id, $"\"{chunk}\"");
        }

        await gotLeave.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
