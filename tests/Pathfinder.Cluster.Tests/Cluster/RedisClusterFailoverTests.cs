using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>
/// A primary of a 6-node Redis Cluster (3 primaries, 3 replicas, cluster-node-timeout 1000 ms) dies while peers relay
/// across two signaling replicas: its replica is promoted, relay recovers, an id left on the lost shard is free again
/// within one lease, and nothing else is lost. The times are written to the test output (docs/scaling.md, Failover).
/// </summary>
public sealed class RedisClusterFailoverTests(ITestOutputHelper output)
{
    private const int LeaseMs = 3000;

    [Fact]
    public async Task Killing_a_primary_promotes_its_replica_relay_recovers_and_only_the_lost_shards_ids_wait_for_a_lease()
    {
        await using var redis = await RedisClusterServer.StartAsync(primaries: 3, replicasPerPrimary: 1, nodeTimeoutMs: 1000);
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["Signaling:Cluster:KeyPrefix"] = "fo" + Guid.NewGuid().ToString("N")[..8],
            ["Signaling:Cluster:LeaseMilliseconds"] = LeaseMs.ToString(CultureInfo.InvariantCulture),
            ["Signaling:LivenessCheckInterval"] = "864000000", // the test's clients send no heartbeats
        };
        await using var r0 = await SignalingTestHost.StartAsync(settings);
        await using var r1 = await SignalingTestHost.StartAsync(settings);

        // Two receivers (on replica 1) per shard, each with a sender on replica 0; one more id on every shard that
        // leaves during the outage.
        var map = await RedisClusterServer.SlotMapAsync(redis.Ports[0]);
        Assert.Equal(3, map.Count);
        int PrimaryOf(string key) => map.Single(r => r.Start <= RedisKeys.SlotOf(key) && RedisKeys.SlotOf(key) <= r.End).Port;
        var ids = new Dictionary<int, List<string>>();
        while (ids.Count < 3 || ids.Values.Any(l => l.Count < 3))
        {
            var id = PeerClient.NewId("rx");
            var list = ids.TryGetValue(PrimaryOf(id), out var known) ? known : ids[PrimaryOf(id)] = [];
            if (list.Count < 3)
            {
                list.Add(id);
            }
        }

        // The victim holds replica 1's channel (where every relay of the test goes) and a third of the ids.
        var victim = PrimaryOf(settings["Signaling:Cluster:KeyPrefix"] + ":replica:" + r1.Services.GetRequiredService<RedisPeerDirectory>().ReplicaId);
        var pairs = new List<(PeerClient From, PeerClient To, int Primary)>();
        var leavers = new List<(PeerClient Peer, int Primary)>();
        try
        {
            foreach (var (primary, list) in ids)
            {
                foreach (var id in list.Take(2))
                {
                    pairs.Add((await PeerClient.ConnectAsync(r0.SocketUri), await PeerClient.ConnectAsync(r1.SocketUri, id, token: "keep"), primary));
                }

                leavers.Add((await PeerClient.ConnectAsync(r1.SocketUri, list[2], token: "gone"), primary));
            }

            foreach (var (from, to, _) in pairs)
            {
                Assert.True(await RelaysAsync(from, to, TimeSpan.FromSeconds(10)), "relay before the failover");
            }

            // Peers keep relaying while the primary dies.
            using var stop = new CancellationTokenSource();
            var relaying = Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    foreach (var (from, to, _) in pairs)
                    {
                        await from.SendToAsync("CANDIDATE", to.Id, i.ToString(CultureInfo.InvariantCulture));
                    }

                    await Task.Delay(20);
                }
            });

            var clock = Stopwatch.StartNew();
            await redis.KillAsync(victim);
            foreach (var (peer, primary) in leavers.Where(l => l.Primary == victim))
            {
                await peer.DisposeAsync(); // its release cannot reach the lost shard: its lease has to run out
            }

            var survivor = redis.Ports.First(p => p != victim);
            await redis.WaitUntilAsync(async () =>
            {
                var now = await RedisClusterServer.SlotMapAsync(survivor);
                return now.Count == 3 && now.All(r => r.Port != victim);
            }, TimeSpan.FromSeconds(30), "a replica was not promoted");
            var promoted = clock.Elapsed;

            foreach (var (from, to, _) in pairs)
            {
                Assert.True(await RelaysAsync(from, to, TimeSpan.FromSeconds(30)), $"relay to {to.Id} after the failover");
            }

            var recovered = clock.Elapsed;
            await stop.CancelAsync();
            await relaying.WaitAsync(TimeSpan.FromSeconds(10));

            // Nothing else lost: every peer is still connected and still holds its id (another token is refused).
            foreach (var (from, to, primary) in pairs)
            {
                Assert.Null(from.CloseStatus);
                Assert.Null(to.CloseStatus);
                await using var intruder = await PeerClient.OpenAsync(r0.SocketUri, to.Id, token: "intruder");
                Assert.Contains("ID-TAKEN", await intruder.ReceiveAsync(), StringComparison.Ordinal);
            }

            // The id left on the lost shard is claimable by someone else within one lease of recovery.
            var orphan = leavers.Single(l => l.Primary == victim).Peer.Id;
            PeerClient? winner = null;
            await redis.WaitUntilAsync(async () =>
            {
                var attempt = await PeerClient.OpenAsync(r0.SocketUri, orphan, token: "next");
                if (await attempt.ReceiveAsync() == """{"type":"OPEN"}""")
                {
                    winner = attempt;
                    return true;
                }

                await attempt.DisposeAsync();
                return false;
            }, TimeSpan.FromMilliseconds(LeaseMs + 5000), "the lost shard's orphaned id was not free within one lease");
            var reclaimed = clock.Elapsed;
            await winner!.DisposeAsync();

            output.WriteLine(FormattableString.Invariant(
                $"failover: replica promoted after {promoted.TotalMilliseconds:0} ms, every pair relays after {recovered.TotalMilliseconds:0} ms, the orphaned id was claimable after {reclaimed.TotalMilliseconds:0} ms (lease {LeaseMs} ms)"));
        }
        finally
        {
            foreach (var (from, to, _) in pairs)
            {
                await from.DisposeAsync();
                await to.DisposeAsync();
            }

            foreach (var (peer, _) in leavers)
            {
                await peer.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Sends OFFERs with a marker until one arrives within half a second of being sent (bounded by
    /// <paramref name="timeout"/>); the CANDIDATEs of the relaying loop in between are skipped.
    /// </summary>
    private static async Task<bool> RelaysAsync(PeerClient from, PeerClient to, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        for (var attempt = 0; deadline.Elapsed < timeout; attempt++)
        {
            var marker = $"probe-{attempt}-{Guid.NewGuid():N}";
            await from.SendToAsync("OFFER", to.Id, JsonSerializer.Serialize(marker));
            var window = Stopwatch.StartNew();
            try
            {
                while (window.Elapsed < TimeSpan.FromMilliseconds(500))
                {
                    var left = TimeSpan.FromMilliseconds(500) - window.Elapsed;
                    if ((await to.ReceiveAsync(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1))).Contains(marker, StringComparison.Ordinal))
                    {
                        return true;
                    }
                }
            }
            catch (TimeoutException)
            {
            }
        }

        return false;
    }
}
