using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Pathfinder.Signaling.Http;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Issue 14 item 7: per-client limits group IPv6 clients by /ClientIpv6PrefixLength (IPv4-mapped IPv6 counts as
/// IPv4), the number of client groups they track is capped (MaxClientPartitions: 429 for rate limiting, the
/// concurrent-limit ERROR for sockets). Client addresses are simulated with X-Forwarded-For from 127.0.0.1, trusted
/// as the proxy (PROXIED); such upgrades go through the ASP.NET Core pipeline, whose per-client code the fast path
/// shares (<see cref="UpgradePolicy"/>, <see cref="ClientGrouping"/>).
/// </summary>
public sealed class ClientGroupingTests
{
    private const string LimitError = """{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}""";

    private static string Key(string address, int prefix = 64) => ClientGrouping.KeyOf(IPAddress.Parse(address), prefix);

    // ---- The partition key ------------------------------------------------------------------------------------------

    [Fact]
    public void Ipv6_addresses_in_one_64_share_a_key_and_other_prefixes_do_not()
    {
        Assert.Equal("2001:db8:1:2::/64", Key("2001:db8:1:2::1"));
        Assert.Equal(Key("2001:db8:1:2::1"), Key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        Assert.Equal(Key("2001:db8:1:2::1"), Key("2001:db8:1:2:1234:5678:9abc:def0"));
        Assert.NotEqual(Key("2001:db8:1:2::1"), Key("2001:db8:1:3::1"));
    }

    [Fact]
    public void The_prefix_length_is_configurable()
    {
        Assert.Equal("2001:db8:1::/48", Key("2001:db8:1:2::1", 48));
        Assert.Equal(Key("2001:db8:1:2::1", 48), Key("2001:db8:1:ffff::1", 48));
        Assert.Equal("2001:db8:1:2::7/128", Key("2001:db8:1:2::7", 128));
        Assert.NotEqual(Key("2001:db8:1:2::7", 128), Key("2001:db8:1:2::8", 128));
        Assert.Equal("2001:db8:1:2::/63", Key("2001:db8:1:3::1", 63));
    }

    [Fact]
    public void Ipv4_and_ipv4_mapped_ipv6_are_one_address_each()
    {
        Assert.Equal("192.0.2.1", Key("192.0.2.1"));
        Assert.Equal("192.0.2.1", Key("::ffff:192.0.2.1"));
        Assert.NotEqual(Key("192.0.2.1"), Key("192.0.2.2"));
        Assert.Equal("unknown", ClientGrouping.KeyOf(null, 64));
    }

    [Fact]
    public void A_scope_id_does_not_make_a_new_group()
    {
        var a = IPAddress.Parse("fe80::1");
        a.ScopeId = 2;
        var b = IPAddress.Parse("fe80::2");
        b.ScopeId = 3;
        Assert.Equal(ClientGrouping.KeyOf(a, 64), ClientGrouping.KeyOf(b, 64));
    }

    // ---- The limiters -----------------------------------------------------------------------------------------------

    [Fact]
    public void The_socket_limiter_counts_one_64_as_one_client()
    {
        var limiter = new ClientSocketLimiter(maxPerIp: 2);
        using var first = limiter.TryAcquire(Key("2001:db8:1:2::1"));
        using var second = limiter.TryAcquire(Key("2001:db8:1:2::2"));
        using var third = limiter.TryAcquire(Key("2001:db8:1:2::3"));
        using var elsewhere = limiter.TryAcquire(Key("2001:db8:1:3::1"));

        Assert.Equal((true, true, false, true), (first.Acquired, second.Acquired, third.Acquired, elsewhere.Acquired));
        Assert.Equal(ClientSocketLimiter.SlotRefusal.ClientLimit, third.Refusal);
    }

    [Fact]
    public void The_socket_limiter_refuses_new_groups_past_its_partition_cap_and_takes_them_again_when_one_leaves()
    {
        var limiter = new ClientSocketLimiter(maxPerIp: 5, maxPartitions: 2);
        var a = limiter.TryAcquire("192.0.2.1");
        using var b = limiter.TryAcquire("192.0.2.2");
        using var c = limiter.TryAcquire("192.0.2.3");
        using var moreA = limiter.TryAcquire("192.0.2.1");

        Assert.Equal((true, true, false, true), (a.Acquired, b.Acquired, c.Acquired, moreA.Acquired));
        Assert.Equal(ClientSocketLimiter.SlotRefusal.PartitionLimit, c.Refusal);

        a.Dispose();
        moreA.Dispose();
        Assert.Equal(1, limiter.Partitions);
        using var later = limiter.TryAcquire("192.0.2.3");
        Assert.True(later.Acquired);
    }

    [Fact]
    public void The_rate_limiter_refuses_new_groups_past_its_partition_cap_until_the_oldest_window_ends()
    {
        var time = new ManualTime();
        using var limiter = new ClientWindowLimiter(permitLimit: 2, TimeSpan.FromSeconds(10), maxPartitions: 2, time);
        Assert.True(Acquire(limiter, "a"));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(Acquire(limiter, "b"));
        Assert.True(Acquire(limiter, "a"));
        Assert.False(Acquire(limiter, "a"));
        Assert.Equal(2, limiter.Partitions);

        using (var refused = limiter.AttemptAcquire("c"))
        {
            Assert.False(refused.IsAcquired);
            Assert.True(refused.TryGetMetadata(System.Threading.RateLimiting.MetadataName.RetryAfter, out var wait));
            Assert.Equal(TimeSpan.FromSeconds(9), wait);
        }

        time.Advance(TimeSpan.FromSeconds(9)); // a's window ends; b's runs on
        Assert.True(Acquire(limiter, "c"));
        Assert.False(Acquire(limiter, "d")); // b and c hold the two partitions
        time.Advance(TimeSpan.FromSeconds(1)); // b's window ends
        Assert.True(Acquire(limiter, "d"));
        Assert.True(Acquire(limiter, string.Empty)); // the empty key is never limited
    }

    private static bool Acquire(ClientWindowLimiter limiter, string client)
    {
        using var lease = limiter.AttemptAcquire(client);
        return lease.IsAcquired;
    }

    private sealed class ManualTime : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    // ---- Through the service ------------------------------------------------------------------------------------------

    private static Task<SignalingTestHost> StartAsync(params (string Name, string Value)[] settings)
    {
        var values = new Dictionary<string, string?>
        {
            ["PROXIED"] = "true",
            ["PEERJS_KEY"] = Hardening.StrongKey,
            ["Logging:LogLevel:Pathfinder"] = "Information",
        };
        foreach (var (name, value) in settings)
        {
            values[name] = value;
        }

        return SignalingTestHost.StartAsync(values, configureLogging: logging => logging.AddFakeLogging());
    }

    private static Action<System.Net.WebSockets.ClientWebSocketOptions> From(string ip) => Hardening.Header("X-Forwarded-For", ip);

    [Fact]
    public async Task Ipv6_clients_in_one_64_share_one_socket_limit()
    {
        await using var host = await StartAsync(("MAX_CONNECTIONS_PER_PEER", "2"));
        await using var a = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey, configure: From("2001:db8:aa:1::1"));
        await using var b = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey, configure: From("2001:db8:aa:1::2"));

        await using var c = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), key: Hardening.StrongKey, configure: From("2001:db8:aa:1:dead:beef:0:3"));
        Assert.Equal([LimitError], await c.WaitForCloseAsync());

        // Another /64 has its own limit.
        await using var other = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey, configure: From("2001:db8:aa:2::1"));
        Assert.Equal(2, host.Services.GetRequiredService<ClientSocketLimiter>().OpenFrom("2001:db8:aa:1::/64"));
    }

    [Fact]
    public async Task Ipv6_clients_in_one_64_share_one_rate_limit()
    {
        await using var host = await StartAsync(("RATE_LIMIT_ENABLED", "true"), ("RATE_LIMIT_MAX", "2"), ("RATE_LIMIT_WINDOW_MS", "60000"));
        using var first = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: "2001:db8:bb:1::1");
        using var second = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: "2001:db8:bb:1::2");
        using var third = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: "2001:db8:bb:1:ffff::3");
        using var other = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: "2001:db8:bb:2::1");

        Assert.Equal(
            (HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.OK),
            (first.StatusCode, second.StatusCode, third.StatusCode, other.StatusCode));
    }

    [Fact]
    public async Task The_prefix_length_setting_changes_the_groups()
    {
        await using var host = await StartAsync(("MAX_CONNECTIONS_PER_PEER", "1"), ("Signaling:ClientIpv6PrefixLength", "128"));
        await using var a = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey, configure: From("2001:db8:cc:1::1"));
        await using var b = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey, configure: From("2001:db8:cc:1::2"));
    }

    [Fact]
    public async Task Past_max_client_partitions_a_socket_from_a_new_client_gets_the_limit_error()
    {
        await using var host = await StartAsync(("Signaling:MaxClientPartitions", "16"), ("MAX_CONNECTIONS_PER_PEER", "5"));
        var peers = new List<PeerClient>();
        try
        {
            for (var i = 1; i <= 16; i++)
            {
                peers.Add(await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey, configure: From($"198.51.100.{i}")));
            }

            await using var refused = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), key: Hardening.StrongKey, configure: From("198.51.100.17"));
            Assert.Equal([LimitError], await refused.WaitForCloseAsync());
            Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 3
                && r.Message.Contains("(client_partitions)", StringComparison.Ordinal) && r.Message.Contains("198.51.100.17", StringComparison.Ordinal));

            // A client already tracked still gets its own slots.
            peers.Add(await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey, configure: From("198.51.100.1")));
        }
        finally
        {
            foreach (var peer in peers)
            {
                await peer.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Past_max_client_partitions_a_new_client_gets_429_from_the_rate_limit()
    {
        await using var host = await StartAsync(
            ("Signaling:MaxClientPartitions", "16"), ("RATE_LIMIT_ENABLED", "true"), ("RATE_LIMIT_MAX", "100"), ("RATE_LIMIT_WINDOW_MS", "60000"));
        for (var i = 1; i <= 16; i++)
        {
            using var ok = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: $"203.0.113.{i}");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var refused = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: "203.0.113.17");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.InRange(int.Parse(Assert.Single(refused.Headers.GetValues("Retry-After")), CultureInfo.InvariantCulture), 1, 60);

        var (status, _) = await Hardening.RefusedUpgradeAsync(host.SocketUri, Hardening.StrongKey, From("203.0.113.18"));
        Assert.Equal(HttpStatusCode.TooManyRequests, status);

        using var known = await Hardening.GetAsync(host, "/pathfinder", forwardedFor: "203.0.113.1");
        Assert.Equal(HttpStatusCode.OK, known.StatusCode);
    }
}
