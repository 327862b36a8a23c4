using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Pathfinder.Signaling.Tests;

/// <summary>Item 9: the banner once listening, and one clear line (not a stack trace) when the port is taken.</summary>
public sealed class StartupTests
{
    private static string PortInUse(int port) =>
        $"port {port} is already in use — another process is listening on it; stop it (`ss -ltnp 'sport = :{port}'` shows which) or choose another port with PEERJS_PORT";

    [Fact]
    public async Task The_banner_shows_name_url_with_path_and_status_once_listening()
    {
        await using var service = await ServiceProcess.StartOnPeerJsPortAsync(new Dictionary<string, string?>
        {
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["PEERJS_PATH"] = "/signal",
        });
        var port = service.Port;
        await service.WaitForStdoutAsync(line => line.StartsWith('╚'));

        // Listening by the time the banner is out: the API answers at once.
        using var http = Hardening.Http();
        using var info = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/signal"));
        Assert.Equal(HttpStatusCode.OK, info.StatusCode);

        var banner = service.Stdout.SkipWhile(l => !l.StartsWith('╔')).TakeWhile(l => !l.StartsWith('╚')).ToList();
        Assert.Contains(banner, l => l.Contains("Pathfinder Signaling (PeerJS server)", StringComparison.Ordinal));
        Assert.Contains(banner, l => l.Contains($"URL:    http://localhost:{port}/signal ", StringComparison.Ordinal));
        Assert.Contains(banner, l => l.Contains($"Socket: ws://localhost:{port}/signal/peerjs ", StringComparison.Ordinal));
        Assert.Contains(banner, l => l.Contains("Status: running, Development", StringComparison.Ordinal));
        Assert.Single(service.Stdout, l => l.StartsWith('╔'));
        Assert.Empty(service.Stderr);
    }

    [Fact]
    public async Task A_port_in_use_gives_one_clear_line_and_a_non_zero_exit()
    {
        using var squatter = new TcpListener(IPAddress.Any, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;

        await using var service = await ServiceProcess.RunToExitAsync(new Dictionary<string, string?>
        {
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["PEERJS_PORT"] = port.ToString(CultureInfo.InvariantCulture),
        });

        Assert.NotEqual(0, service.ExitCode);
        Assert.Equal([PortInUse(port)], service.Stderr);
        Assert.DoesNotContain(service.Stdout, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_port_in_use_through_ASPNETCORE_URLS_gives_the_same_line()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;

        await using var service = await ServiceProcess.RunToExitAsync(new Dictionary<string, string?>
        {
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
        });

        Assert.NotEqual(0, service.ExitCode);
        Assert.Equal([PortInUse(port)], service.Stderr);
        Assert.DoesNotContain(service.Stdout, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public void A_bind_failure_reported_by_kestrel_is_described_in_one_line()
    {
        var kestrel = new IOException(
            "Failed to bind to address http://[::]:9000: address already in use.",
            new Microsoft.AspNetCore.Connections.AddressInUseException("Address already in use"));
        Assert.Equal(PortInUse(9000), Hosting.StartupFailure.Describe(kestrel));
        Assert.Null(Hosting.StartupFailure.Describe(new InvalidOperationException("something else")));
    }
}
