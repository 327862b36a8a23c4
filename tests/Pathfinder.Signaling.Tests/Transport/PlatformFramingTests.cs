using System.Net.WebSockets;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// The bench's comparison variant (PATHFINDER_BENCH_FRAMING=platform, docs/performance.md): the real service with
/// .NET's WebSocket over the fast path's pipes, and through the ASP.NET Core WebSocket middleware, still speaks PeerJS —
/// OPEN, relays both ways (one large message spanning several reads), and closes 1009 on a message over the limit.
/// </summary>
public sealed class PlatformFramingTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_platform_websocket_relays_and_enforces_the_message_limit(bool fastPath)
    {
        await using var service = await ServiceProcess.StartListeningAsync(new Dictionary<string, string?>
        {
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["PATHFINDER_BENCH_FRAMING"] = "platform",
            ["Signaling__UpgradeFastPath"] = fastPath ? "true" : "false",
            ["MAX_CONNECTIONS_PER_PEER"] = "0",
        });
        await service.WaitForStdoutAsync(line => line.Contains("Sockets run on .NET's WebSocket", StringComparison.Ordinal));
        var socketUri = new Uri($"ws://127.0.0.1:{service.Port}/pathfinder/peerjs");

        await using var a = await PeerClient.ConnectAsync(socketUri);
        await using var b = await PeerClient.ConnectAsync(socketUri);
        await a.SendToAsync("OFFER", b.Id, "\"hello\"");
        Assert.Contains("\"payload\":\"hello\"", await b.ReceiveAsync(), StringComparison.Ordinal);
        var large = new string('x', 40 * 1024);
        await b.SendToAsync("ANSWER", a.Id, $"\"{large}\"");
        Assert.EndsWith($"\"payload\":\"{large}\"}}", await a.ReceiveAsync(), StringComparison.Ordinal);

        await a.SendToAsync("OFFER", b.Id, $"\"{new string('y', 70 * 1024)}\"");
        await a.WaitForCloseAsync();
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, a.CloseStatus);
    }
}
