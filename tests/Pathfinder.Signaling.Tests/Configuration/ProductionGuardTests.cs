using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Tests;

/// <summary>Item 2: in Production the service refuses a missing, default or weak key; keys are compared in constant time.</summary>
public sealed class ProductionGuardTests
{
    private const string Hint = "generate one with `dotnet Pathfinder.Signaling.dll --generate-key` (or `dotnet run --project Pathfinder.Signaling -- --generate-key`)";

    private static Task<SignalingTestHost> StartProductionAsync(params (string Name, string Value)[] settings) =>
        SignalingTestHost.StartAsync(settings.ToDictionary(s => s.Name, s => (string?)s.Value), environment: "Production");

    [Fact]
    public async Task Production_refuses_to_start_without_PEERJS_KEY()
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(() => StartProductionAsync());
        Assert.Equal($"FATAL: PEERJS_KEY environment variable not set — {Hint} and set PEERJS_KEY", ex.Message);
    }

    [Theory]
    [InlineData("pathfinder")]
    [InlineData("peerjs")]
    [InlineData("PeerJS")]
    public async Task Production_refuses_a_default_key(string key)
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(() => StartProductionAsync(("PEERJS_KEY", key)));
        Assert.Equal($"FATAL: PEERJS_KEY is a well-known default key — {Hint}", ex.Message);
    }

    [Fact]
    public async Task Production_refuses_a_short_key_without_echoing_it()
    {
        const string key = "s3cr3t-but-short-31-chars-long!";
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(() => StartProductionAsync(("PEERJS_KEY", key)));
        Assert.Equal($"FATAL: PEERJS_KEY is too weak: 31 characters, at least 32 required — {Hint}", ex.Message);
        Assert.DoesNotContain(key, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Production_refuses_a_long_key_of_few_distinct_characters()
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(() => StartProductionAsync(("PEERJS_KEY", new string('a', 40))));
        Assert.Equal($"FATAL: PEERJS_KEY is too weak: it repeats a few characters — {Hint}", ex.Message);
    }

    [Fact]
    public async Task Production_refuses_the_shipped_default_in_the_Signaling_section_and_a_weak_one_there_by_name()
    {
        var missing = await Assert.ThrowsAsync<SignalingConfigurationException>(() => StartProductionAsync(("Signaling:Key", "pathfinder")));
        Assert.StartsWith("FATAL: PEERJS_KEY environment variable not set", missing.Message, StringComparison.Ordinal);

        var weak = await Assert.ThrowsAsync<SignalingConfigurationException>(() => StartProductionAsync(("Signaling:Key", "tooshort")));
        Assert.StartsWith("FATAL: Signaling:Key is too weak: 8 characters", weak.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Production_starts_with_a_strong_key_and_only_that_key_opens_a_socket()
    {
        await using var host = await StartProductionAsync(("PEERJS_KEY", Hardening.StrongKey));
        await using var good = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey);

        // Same length, last character different: refused in-band.
        var almost = Hardening.StrongKey[..^1] + (Hardening.StrongKey[^1] == 'e' ? 'f' : 'e');
        await using var bad = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), key: almost);
        Assert.Equal(["""{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"""], await bad.WaitForCloseAsync());

        // The shipped default no longer works either.
        await using var old = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), key: "pathfinder");
        Assert.Equal(["""{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"""], await old.WaitForCloseAsync());
    }

    [Fact]
    public async Task A_strong_key_from_the_Signaling_section_is_accepted_in_production()
    {
        await using var host = await StartProductionAsync(("Signaling:Key", Hardening.StrongKey));
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri, key: Hardening.StrongKey);
        await using var wrong = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId(), null, "pathfinder");
        Assert.Equal("""{"type":"ERROR","payload":{"msg":"Invalid key provided"}}""", await wrong.ReceiveAsync());
    }

    [Fact]
    public async Task Development_keeps_the_plugins_default_key()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri, key: "pathfinder");
        await peer.SendToAsync("OFFER", peer.Id, "\"self\"");
        Assert.Equal($$"""{"type":"OFFER","src":"{{peer.Id}}","dst":"{{peer.Id}}","payload":"self"}""", await peer.ReceiveAsync());
    }

    [Fact]
    public void Key_comparison_hashes_both_sides_so_length_and_content_do_not_leak()
    {
        var key = new AccessKey(Microsoft.Extensions.Options.Options.Create(new SignalingOptions { Key = Hardening.StrongKey }));
        Assert.True(key.Matches(Hardening.StrongKey));
        Assert.False(key.Matches(Hardening.StrongKey + "x"));
        Assert.False(key.Matches(Hardening.StrongKey[..10]));
        Assert.False(key.Matches(string.Empty));
        Assert.False(key.Matches(null));
    }

    [Fact]
    public async Task The_real_service_in_production_without_a_key_prints_the_fatal_line_and_exits_non_zero()
    {
        await using var service = await ServiceProcess.RunToExitAsync(new Dictionary<string, string?>
        {
            ["DOTNET_ENVIRONMENT"] = "Production",
        });

        Assert.Equal(2, service.ExitCode);
        var line = Assert.Single(service.Stderr);
        Assert.StartsWith("FATAL: PEERJS_KEY environment variable not set — ", line, StringComparison.Ordinal);
        Assert.Contains("--generate-key", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_real_service_in_production_with_a_weak_key_never_prints_the_key()
    {
        const string key = "hunter2-hunter2";
        await using var service = await ServiceProcess.RunToExitAsync(new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["PEERJS_KEY"] = key,
        });

        Assert.NotEqual(0, service.ExitCode);
        Assert.StartsWith("FATAL: PEERJS_KEY is too weak: 15 characters", Assert.Single(service.Stderr), StringComparison.Ordinal);
        Assert.DoesNotContain(service.Stdout.Concat(service.Stderr), l => l.Contains(key, StringComparison.Ordinal));
    }
}
