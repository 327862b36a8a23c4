using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Tests;

public sealed class LivenessTests
{
    [Fact]
    public async Task A_peer_without_heartbeat_for_alive_timeout_is_dropped_and_its_id_freed()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?> { ["Signaling:LivenessCheckInterval"] = "864000000", ["Signaling:CleanupOutMsgs"] = "864000000" },
            services => services.AddSingleton<TimeProvider>(time));
        var router = host.Services.GetRequiredService<PeerRouter>();
        var id = PeerClient.NewId();
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri, id, token: "first");

        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(0, router.SweepLiveness());

        // HEARTBEAT refreshes liveness; relayed traffic does not.
        await peer.SendAsync("""{"type":"HEARTBEAT"}""");
        Assert.Empty(await peer.DrainWithMarkerAsync());
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(0, router.SweepLiveness());
        Assert.Empty(await peer.DrainWithMarkerAsync());

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, router.SweepLiveness());
        await peer.WaitForCloseAsync();

        await using var other = await PeerClient.ConnectAsync(host.SocketUri, id, token: "second");
    }

    [Fact]
    public async Task The_liveness_sweep_runs_on_its_own_timer()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Signaling:AliveTimeout"] = "1000",
            ["Signaling:LivenessCheckInterval"] = "100",
        });
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri);
        var before = await peer.WaitForCloseAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(before);
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, peer.CloseStatus);
        Assert.Equal("No heartbeat", peer.Socket.CloseStatusDescription);
    }

    [Fact]
    public async Task A_clean_close_frees_the_id_at_once()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var id = PeerClient.NewId();
        var first = await PeerClient.ConnectAsync(host.SocketUri, id, token: "one");
        await first.DisposeAsync();
        await using var second = await PeerClient.ConnectAsync(host.SocketUri, id, token: "two");

        // The id now routes to the second token's socket.
        await using var other = await PeerClient.ConnectAsync(host.SocketUri);
        await other.SendToAsync("OFFER", id, "\"to-second\"");
        Assert.Equal($$"""{"type":"OFFER","src":"{{other.Id}}","dst":"{{id}}","payload":"to-second"}""", await second.ReceiveAsync());
    }

    [Fact]
    public async Task An_abrupt_tcp_drop_frees_the_id()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:AllowDiscovery"] = "true" });
        var id = PeerClient.NewId();
        var first = await PeerClient.ConnectAsync(host.SocketUri, id, token: "one");
        first.Socket.Abort();
        first.Socket.Dispose();

        // The server learns of the drop from the OS; poll the peer list (bounded) until the id is gone.
        using var http = new HttpClient();
        await Poll.AssertAsync(
            async () => !JsonSerializer.Deserialize<string[]>(await http.GetStringAsync(new Uri(host.HttpBase, "/pathfinder/pathfinder/peers")))!.Contains(id),
            TimeSpan.FromSeconds(10),
            "the id was not freed after an abrupt drop",
            TimeSpan.FromMilliseconds(20));

        await using var second = await PeerClient.ConnectAsync(host.SocketUri, id, token: "two");
    }
}
