using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>The cluster-wide offline budget as Redis keeps it (one primary and a Redis Cluster), and the expiry sweep under many queued ids.</summary>
public sealed class OfflineBudgetRedisTests(Backends backends) : IClassFixture<Backends>
{
    private static string Expire(string from, string to) => $$"""{"type":"EXPIRE","src":"{{from}}","dst":"{{to}}"}""";

    private static (IDatabase Db, IServer[] Primaries, string Prefix) RedisOf(ClusterUnderTest cluster)
    {
        var multiplexer = cluster[0].Services.GetRequiredService<IConnectionMultiplexer>();
        var prefix = cluster[0].Services.GetRequiredService<IOptions<ClusterOptions>>().Value.KeyPrefix;
        return (multiplexer.GetDatabase(), [.. multiplexer.GetServers().Where(s => !s.IsReplica)], prefix);
    }

    private static async Task<List<string>> KeysAsync(IServer[] primaries, string pattern)
    {
        var keys = new List<string>();
        foreach (var server in primaries)
        {
            await foreach (var key in server.KeysAsync(pattern: pattern))
            {
                keys.Add(key!);
            }
        }

        return keys;
    }

    [Theory]
    [MemberData(nameof(Backends.RedisTargets), MemberType = typeof(Backends))]
    public async Task The_budget_counts_in_redis_match_the_queues_and_return_to_zero_after_delivery_and_expiry(string backend)
    {
        await using var cluster = await backends.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Signaling:OfflineQueuePerSender"] = "6",
            ["Signaling:OfflineQueuePerPeer"] = "2",
        });
        var (db, server, prefix) = RedisOf(cluster);
        await using var a = await PeerClient.ConnectAsync(cluster.Socket(0));
        await using var b = await PeerClient.ConnectAsync(cluster.Socket(1));
        var x = PeerClient.NewId("x");
        var ys = Enumerable.Range(0, 5).Select(i => PeerClient.NewId($"y{i}")).ToArray();
        for (var i = 0; i < 3; i++)
        {
            await a.SendToAsync("OFFER", x, i.ToString(CultureInfo.InvariantCulture));
        }

        foreach (var y in ys)
        {
            await a.SendToAsync("CANDIDATE", y, "\"y\"");
        }

        // x holds 2 (the third is refused: x's queue is full), y0..y3 one each; y4 is past a's budget of 6.
        Assert.Equal([Expire(x, a.Id), Expire(ys[4], a.Id)], await a.DrainWithMarkerAsync());
        await b.SendToAsync("OFFER", x, "\"b\"");
        await b.SendToAsync("OFFER", ys[0], "\"b\"");
        Assert.Equal([Expire(x, b.Id)], await b.DrainWithMarkerAsync());

        // What Redis counts is exactly what the queues hold.
        long messages = 0, bytes = 0;
        foreach (var queue in await KeysAsync(server, $"{prefix}:queue:*"))
        {
            foreach (var entry in await db.ListRangeAsync(queue))
            {
                messages++;
                bytes += ((byte[])entry!).Length;
            }
        }

        Assert.Equal(7, messages);
        Assert.Equal(messages, (long)await db.HashGetAsync($"{prefix}:offline", "messages"));
        Assert.Equal(bytes, (long)await db.HashGetAsync($"{prefix}:offline", "bytes"));
        Assert.Equal(6, (long)await db.HashGetAsync($"{prefix}:sender:{{{a.Id}}}", "messages"));
        Assert.Equal(1, (long)await db.HashGetAsync($"{prefix}:sender:{{{b.Id}}}", "messages"));

        // Delivered (x) and expired (the rest): nothing is left counted.
        await using (var late = await PeerClient.ConnectAsync(cluster.Socket(1), x))
        {
            Assert.Equal(2, (await late.DrainWithMarkerAsync()).Count);
        }

        cluster.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(5, await cluster.SweepExpiredAsync());
        Assert.False(await db.KeyExistsAsync($"{prefix}:offline"));
        Assert.Empty(await KeysAsync(server, $"{prefix}:sender:*"));
        Assert.Empty(await KeysAsync(server, $"{prefix}:queue:*"));
        Assert.Equal(0, await db.SortedSetLengthAsync($"{prefix}:queues"));
        Assert.Empty(await KeysAsync(server, $"{prefix}:due:*"));
    }

    [Fact]
    public async Task Twenty_thousand_queued_ids_all_get_their_expire_from_one_sweep()
    {
        const int count = 20_000;
        // One primary: on a cluster a replica sweeps the slots it queued into and 128 others per tick, not all at once.
        await using var cluster = await backends.StartAsync("redis/2", new Dictionary<string, string?>
        {
            ["Signaling:OfflineQueuePerSender"] = "1000000",
            ["Signaling:OfflineQueuePerSenderBytes"] = "1000000000",
            ["Signaling:SendQueueCapacity"] = "100000",
            ["Signaling:SendQueueBytes"] = "1000000000",
            ["Signaling:RelayMessagesPerSecond"] = "1000000",
            ["Signaling:RelayMessageBurst"] = "1000000",
            ["Signaling:RelayBytesPerSecond"] = "1000000000",
            ["Signaling:RelayByteBurst"] = "1000000000",
        });
        await using var sender = await PeerClient.ConnectAsync(cluster.Socket(1));
        var prefix = "n" + Guid.NewGuid().ToString("N")[..8] + "-";
        for (var i = 0; i < count; i++)
        {
            await sender.SendToAsync("CANDIDATE", prefix + i.ToString(CultureInfo.InvariantCulture), "1");
        }

        Assert.Empty(await sender.DrainWithMarkerAsync());

        // One tick of the sweep on replica 0 takes every due queue; the EXPIREs reach the sender on replica 1.
        cluster.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(count, await cluster[0].Services.GetRequiredService<Routing.PeerRouter>().SweepExpiredAsync(CancellationToken.None));
        var told = new HashSet<string>(StringComparer.Ordinal);
        while (told.Count < count)
        {
            var message = await sender.ReceiveJsonAsync();
            Assert.Equal("EXPIRE", message.GetProperty("type").GetString());
            Assert.True(told.Add(message.GetProperty("src").GetString()!));
        }

        Assert.Empty(await sender.DrainWithMarkerAsync());
        Assert.Equal(0, await cluster.SweepExpiredAsync());
    }
}
