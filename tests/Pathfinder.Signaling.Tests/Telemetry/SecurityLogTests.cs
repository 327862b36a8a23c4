using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Item 8: the security log — structured [LoggerMessage] events for connects, disconnects and every handshake
/// rejection, the seed's wording, JSON console output when configured, and never the key.
/// </summary>
public sealed class SecurityLogTests
{
    private static Task<SignalingTestHost> StartAsync(params (string Name, string Value)[] settings)
    {
        // The shipped log levels (appsettings.json), with every Pathfinder event captured.
        var values = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
            ["Logging:LogLevel:Pathfinder"] = "Trace",
        };
        foreach (var (name, value) in settings)
        {
            values[name] = value;
        }

        return SignalingTestHost.StartAsync(values, configureLogging: logging => logging.AddFakeLogging());
    }

    private static async Task<FakeLogRecord> WaitForEventAsync(SignalingTestHost host, int eventId, Func<FakeLogRecord, bool> match)
    {
        using var cts = new CancellationTokenSource(PeerClient.DefaultTimeout);
        await foreach (var record in host.Services.GetFakeLogCollector().GetLogsAsync(cts.Token))
        {
            if (record.Id.Id == eventId && match(record))
            {
                return record;
            }
        }

        throw new TimeoutException($"no log event {eventId}");
    }

    private static string? State(FakeLogRecord record, string name) =>
        record.StructuredState?.FirstOrDefault(kv => kv.Key == name).Value;

    [Fact]
    public async Task Connect_and_disconnect_are_logged_at_debug_with_the_seeds_wording_id_client_ip_and_reason()
    {
        await using var host = await StartAsync(("PEERJS_KEY", Hardening.StrongKey));
        var peer = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey);
        await peer.DisposeAsync();

        var connected = await WaitForEventAsync(host, 1, r => State(r, "PeerId") == peer.Id);
        Assert.Equal($"[PeerJS] Client connected: {peer.Id} from 127.0.0.1", connected.Message);
        // Debug: one line per connect costs more CPU than the connect itself; metrics count connects and disconnects.
        Assert.Equal(LogLevel.Debug, connected.Level);

        var disconnected = await WaitForEventAsync(host, 2, r => State(r, "PeerId") == peer.Id);
        Assert.StartsWith($"[PeerJS] Client disconnected: {peer.Id} from 127.0.0.1 (", disconnected.Message, StringComparison.Ordinal);
        Assert.Equal("127.0.0.1", State(disconnected, "RemoteIp"));
        Assert.False(string.IsNullOrEmpty(State(disconnected, "Reason")));
    }

    [Fact]
    public async Task Every_handshake_rejection_is_logged_with_its_reason()
    {
        await using var host = await StartAsync(("Signaling:ConcurrentLimit", "1"));
        var holder = PeerClient.NewId();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri, holder, token: "mine");

        await using var badKey = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), key: "wrong");
        await badKey.WaitForCloseAsync();
        await using var taken = await PeerClient.OpenAsync(host.SocketUri, holder, token: "theirs");
        await taken.WaitForCloseAsync();
        await using var limit = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId());
        await limit.WaitForCloseAsync();
        await using var missing = await PeerClient.OpenAsync(host.SocketUri, id: null, rawUri: PeerClient.BuildUri(host.SocketUri, "pathfinder", null, "tok"));
        await missing.WaitForCloseAsync();

        var reasons = host.Services.GetFakeLogCollector().GetSnapshot().Where(r => r.Id.Id == 3).Select(r => State(r, "Reason"));
        Assert.Equal(["invalid_key", "id_taken", "limit", "bad_request"], reasons);
        Assert.Contains(host.Services.GetFakeLogCollector().GetSnapshot(), r =>
            r.Message == $"[PeerJS] Handshake rejected (id_taken) for id '{holder}' from 127.0.0.1");
    }

    [Fact]
    public async Task The_key_is_never_logged()
    {
        await using var host = await StartAsync(("PEERJS_KEY", Hardening.StrongKey), ("ALLOW_DISCOVERY", "true"));
        var peer = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey);
        await using var wrong = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), key: Hardening.StrongKey + "-not");
        await wrong.WaitForCloseAsync();
        using var id = await Hardening.GetAsync(host, $"/pathfinder/{Hardening.StrongKey}/id");
        using var peers = await Hardening.GetAsync(host, $"/pathfinder/{Hardening.StrongKey}/peers");
        await peer.DisposeAsync();
        await WaitForEventAsync(host, 2, r => State(r, "PeerId") == peer.Id);

        var records = host.Services.GetFakeLogCollector().GetSnapshot();
        Assert.NotEmpty(records);
        foreach (var record in records)
        {
            Assert.DoesNotContain(Hardening.StrongKey, record.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(record.StructuredState ?? [], kv => kv.Value?.Contains(Hardening.StrongKey, StringComparison.Ordinal) == true);
        }
    }

    [Theory]
    [InlineData("LOG_FORMAT", "json")]
    [InlineData("Logging__Console__FormatterName", "json")]
    public async Task The_real_service_writes_json_console_logs_when_configured_and_never_the_key(string variable, string value)
    {
        var (service, port) = await StartProductionServiceAsync((variable, value), ("Logging__LogLevel__Pathfinder.Signaling.Transport", "Debug"));
        await using var _ = service;

        var socketUri = new Uri($"ws://127.0.0.1:{port}/pathfinder/peerjs");
        var peer = await PeerClient.ConnectAsync(socketUri, key: Hardening.StrongKey);
        await peer.DisposeAsync();
        await service.WaitForStdoutAsync(line => line.Contains("\"EventId\":2,", StringComparison.Ordinal) && line.Contains(peer.Id, StringComparison.Ordinal));

        var lines = service.Stdout;
        var events = lines.Select(line => JsonDocument.Parse(line).RootElement).ToList(); // every line is one JSON object
        var connected = Assert.Single(events, e => e.GetProperty("EventId").GetInt32() == 1);
        Assert.Equal(peer.Id, connected.GetProperty("State").GetProperty("PeerId").GetString());
        Assert.Equal("127.0.0.1", connected.GetProperty("State").GetProperty("RemoteIp").GetString());
        Assert.Equal($"[PeerJS] Client connected: {peer.Id} from 127.0.0.1", connected.GetProperty("Message").GetString());
        Assert.DoesNotContain(lines, line => line.Contains(Hardening.StrongKey, StringComparison.Ordinal) || line.Contains('╔'));
        Assert.Empty(service.Stderr);
    }

    [Fact]
    public async Task Even_at_trace_level_the_key_is_never_logged()
    {
        var (service, port) = await StartProductionServiceAsync(
            ("LOG_FORMAT", "json"), ("Logging__LogLevel__Default", "Trace"), ("Logging__LogLevel__Microsoft.AspNetCore", "Trace"));
        await using var _ = service;

        var socketUri = new Uri($"ws://127.0.0.1:{port}/pathfinder/peerjs");
        var peer = await PeerClient.ConnectAsync(socketUri, key: Hardening.StrongKey);
        using (var http = new HttpClient())
        {
            await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/pathfinder/{Hardening.StrongKey}/id"));
        }

        await peer.DisposeAsync();
        await service.WaitForStdoutAsync(line => line.Contains("\"EventId\":2,", StringComparison.Ordinal) && line.Contains(peer.Id, StringComparison.Ordinal));
        Assert.True(service.Stdout.Count > 5, "trace logging should be verbose");
        var leaks = service.Stdout.Where(line => line.Contains(Hardening.StrongKey, StringComparison.Ordinal))
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("Category").GetString()).Distinct().ToList();
        Assert.True(leaks.Count == 0, "categories that logged the key: " + string.Join(", ", leaks));
    }

    /// <summary>The real process in Production (strong key, an allow-list), started and listening on a port it picked (its event 23 says which).</summary>
    private static async Task<(ServiceProcess Service, int Port)> StartProductionServiceAsync(params (string Name, string Value)[] extra)
    {
        var environment = new Dictionary<string, string?>
        {
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["PEERJS_KEY"] = Hardening.StrongKey,
            ["CORS_ORIGINS"] = "https://grafana.example.com",
        };
        foreach (var (name, value) in extra)
        {
            environment[name] = value;
        }

        var service = await ServiceProcess.StartListeningAsync(environment);
        return (service, service.Port);
    }
}
