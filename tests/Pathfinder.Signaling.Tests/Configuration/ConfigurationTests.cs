using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Tests;

/// <summary>Item 1: every setting from appsettings (<c>Signaling</c>) and from the seed's environment variables, validated at start.</summary>
public sealed partial class ConfigurationTests
{
    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex HexKey();

    private static Dictionary<string, string?> Settings(params (string Name, string? Value)[] values) =>
        values.ToDictionary(v => v.Name, v => v.Value, StringComparer.OrdinalIgnoreCase);

    [Fact]
    public async Task The_seeds_environment_variables_set_every_setting()
    {
        var key = "env-key-" + Guid.NewGuid().ToString("N");
        await using var host = await SignalingTestHost.StartAsync(Settings(
            ("PEERJS_PORT", "9123"),
            ("PEERJS_PATH", "/custom-path/"),
            ("PEERJS_KEY", key),
            ("ALIVE_TIMEOUT", "90000"),
            ("EXPIRE_TIMEOUT", "7000"),
            ("CONCURRENT_LIMIT", "10"),
            ("ALLOW_DISCOVERY", "true"),
            ("CORS_ORIGINS", "https://grafana.example.com, https://*.grafana.net"),
            ("PROXIED", "yes"),
            ("KNOWN_PROXIES", "10.0.0.1,10.1.0.0/16"),
            ("MAX_CONNECTIONS_PER_PEER", "7"),
            ("RATE_LIMIT_ENABLED", "false"),
            ("RATE_LIMIT_MAX", "30"),
            ("RATE_LIMIT_WINDOW_MS", "60000")));

        var o = host.Services.GetRequiredService<IOptions<SignalingOptions>>().Value;
        Assert.Equal(9123, o.Port);
        Assert.Equal("/custom-path", o.NormalizedPath);
        Assert.Equal(key, o.Key);
        Assert.Equal(90000, o.AliveTimeout);
        Assert.Equal(7000, o.ExpireTimeout);
        Assert.Equal(10, o.ConcurrentLimit);
        Assert.True(o.AllowDiscovery);
        Assert.Equal(["https://grafana.example.com", "https://*.grafana.net"], o.CorsOrigins);
        Assert.True(o.Proxied);
        Assert.Equal(["10.0.0.1", "10.1.0.0/16"], o.KnownProxies);
        Assert.Equal(7, o.MaxConnectionsPerIp);
        Assert.False(o.RateLimitEnabled);
        Assert.Equal(30, o.RateLimitMax);
        Assert.Equal(60000, o.RateLimitWindow);

        // And the service behaves accordingly: the socket lives under the path and takes the key; discovery is on.
        Assert.Equal("/custom-path", host.Path);
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri, key: key);
        using var peers = await Hardening.GetAsync(host, $"/custom-path/{key}/peers");
        Assert.Equal(HttpStatusCode.OK, peers.StatusCode);
        Assert.Contains(peer.Id, await peers.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Environment_variables_win_over_the_Signaling_section_and_lists_bind_from_both_forms()
    {
        await using var host = await SignalingTestHost.StartAsync(Settings(
            ("Signaling:AliveTimeout", "20000"),
            ("ALIVE_TIMEOUT", "30000"),
            ("Signaling:ConcurrentLimit", "11"),
            ("Signaling:CorsOrigins:0", "https://one.example.com"),
            ("Signaling:CorsOrigins:1", "https://two.example.com"),
            ("Signaling:KnownProxies", "10.0.0.1, 10.0.0.2"),
            ("CONCURRENT_LIMIT", ""))); // empty = not set

        var o = host.Services.GetRequiredService<IOptions<SignalingOptions>>().Value;
        Assert.Equal(30000, o.AliveTimeout);
        Assert.Equal(11, o.ConcurrentLimit);
        Assert.Equal(["https://one.example.com", "https://two.example.com"], o.CorsOrigins);
        Assert.Equal(["10.0.0.1", "10.0.0.2"], o.KnownProxies);
    }

    [Fact]
    public async Task The_seeds_variables_are_a_configuration_source_that_wins_over_the_section()
    {
        var key = "env-key-" + Guid.NewGuid().ToString("N");
        await using var host = await SignalingTestHost.StartAsync(Settings(
            ("Signaling:AliveTimeout", "20000"),
            ("ALIVE_TIMEOUT", "30000"),
            ("PEERJS_KEY", key),
            ("CORS_ORIGINS", "https://a.example.com, https://b.example.com")));

        // Anything that reads the configuration sees what the service runs with, under the setting's own name.
        var configuration = host.Services.GetRequiredService<IConfiguration>();
        Assert.Equal("30000", configuration["Signaling:AliveTimeout"]);
        Assert.Equal(key, configuration["Signaling:Key"]);
        Assert.Equal("https://a.example.com, https://b.example.com", configuration["Signaling:CorsOrigins"]);
        Assert.Equal(["https://a.example.com", "https://b.example.com"], host.Services.GetRequiredService<IOptions<SignalingOptions>>().Value.CorsOrigins);
    }

    [Fact]
    public void Commands_read_the_settings_as_the_service_binds_them_without_a_host()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(Settings(("Signaling:AliveTimeout", "20000"), ("ALIVE_TIMEOUT", "30000"), ("Signaling:MaxIdLength", "100"), ("PROXIED", "on")))
            .Build();

        var o = SignalingConfiguration.Read(configuration);
        Assert.Equal((30000, 100, true), (o.AliveTimeout, o.MaxIdLength, o.Proxied));
        Assert.Equal("ALIVE_TIMEOUT", SeedEnvironmentVariables.NameOf(configuration, nameof(o.AliveTimeout)));
        Assert.Equal("Signaling:MaxIdLength", SeedEnvironmentVariables.NameOf(configuration, nameof(o.MaxIdLength)));
    }

    [Fact]
    public async Task Options_are_validated_when_the_host_starts_whatever_changed_them()
    {
        // A value set in code after binding gets the same check and the same line as one from the configuration.
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => SignalingTestHost.StartAsync(
            configureServices: services => services.PostConfigure<SignalingOptions>(o => (o.AliveTimeout, o.SendQueueBytes, o.RelayByteBurst) = (5, 1024, 32 * 1024))));
        Assert.Equal(
            [
                "Signaling:AliveTimeout must be a whole number of milliseconds ≥ 1000, got '5'",
                "Signaling:SendQueueBytes must be a whole number of bytes between 16384 and 1073741824, got '1024'",
                "Signaling:RelayByteBurst must be at least Signaling:MaxMessageBytes (65536 bytes), got '32768'",
            ],
            ex.Failures);
    }

    [Fact]
    public async Task Defaults_are_the_seeds()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var o = host.Services.GetRequiredService<IOptions<SignalingOptions>>().Value;
        Assert.Equal((9000, "/pathfinder", "pathfinder", 60000, 5000, 5000, false), (o.Port, o.Path, o.Key, o.AliveTimeout, o.ExpireTimeout, o.ConcurrentLimit, o.AllowDiscovery));
        Assert.Empty(o.CorsOrigins);
        Assert.False(o.Proxied);
        Assert.Empty(o.KnownProxies);
        Assert.Equal(50, o.MaxConnectionsPerIp);
        Assert.Null(o.RateLimitEnabled);
        Assert.Equal((100, 900_000), (o.RateLimitMax, o.RateLimitWindow));
    }

    public static TheoryData<string, string, string> BadValues() => new()
    {
        { "ALIVE_TIMEOUT", "abc", "ALIVE_TIMEOUT must be a whole number of milliseconds ≥ 1000, got 'abc'" },
        { "ALIVE_TIMEOUT", "999", "ALIVE_TIMEOUT must be a whole number of milliseconds ≥ 1000, got '999'" },
        { "PEERJS_PORT", "70000", "PEERJS_PORT must be a whole number between 1 and 65535, got '70000'" },
        { "PEERJS_PORT", "http", "PEERJS_PORT must be a whole number between 1 and 65535, got 'http'" },
        { "PEERJS_PATH", "/a?b", "PEERJS_PATH must be a URL path such as /pathfinder, got '/a?b'" },
        { "EXPIRE_TIMEOUT", "5s", "EXPIRE_TIMEOUT must be a whole number of milliseconds ≥ 1, got '5s'" },
        { "CONCURRENT_LIMIT", "0", "CONCURRENT_LIMIT must be a whole number of peers ≥ 1, got '0'" },
        { "CONCURRENT_LIMIT", "1.5", "CONCURRENT_LIMIT must be a whole number of peers ≥ 1, got '1.5'" },
        { "ALLOW_DISCOVERY", "maybe", "ALLOW_DISCOVERY must be true or false, got 'maybe'" },
        { "PROXIED", "2", "PROXIED must be true or false, got '2'" },
        { "CORS_ORIGINS", "grafana.example.com", "CORS_ORIGINS entry 'grafana.example.com' is not an origin: use scheme://host[:port] such as https://grafana.example.com or https://*.example.com, no path" },
        { "CORS_ORIGINS", "https://ok.example.com,https://grafana.example.com/app", "CORS_ORIGINS entry 'https://grafana.example.com/app' is not an origin: use scheme://host[:port] such as https://grafana.example.com or https://*.example.com, no path" },
        { "CORS_ORIGINS", "ftp://grafana.example.com", "CORS_ORIGINS entry 'ftp://grafana.example.com' is not an origin: use scheme://host[:port] such as https://grafana.example.com or https://*.example.com, no path" },
        { "KNOWN_PROXIES", "proxy.local", "KNOWN_PROXIES entry 'proxy.local' is not an IP address or a network such as 10.0.0.0/8" },
        { "MAX_CONNECTIONS_PER_PEER", "-1", "MAX_CONNECTIONS_PER_PEER must be a whole number of sockets ≥ 0 (0 = no limit), got '-1'" },
        { "RATE_LIMIT_ENABLED", "sometimes", "RATE_LIMIT_ENABLED must be true or false, got 'sometimes'" },
        { "RATE_LIMIT_MAX", "0", "RATE_LIMIT_MAX must be a whole number of requests ≥ 1, got '0'" },
        { "RATE_LIMIT_WINDOW_MS", "500", "RATE_LIMIT_WINDOW_MS must be a whole number of milliseconds ≥ 1000, got '500'" },
        { "TLS_CERT_PATH", "/nonexistent/cert.pem", "TLS_CERT_PATH must name a readable file, got '/nonexistent/cert.pem' (not found)" },
        { "TLS_KEY_PATH", "/nonexistent/key.pem", "TLS_KEY_PATH is set but no certificate is: set TLS_CERT_PATH (or Signaling:TlsCertificatePath) too" },
        { "LOG_FORMAT", "xml", "LOG_FORMAT must be one of simple, json, systemd, got 'xml'" },
        { "Signaling:AliveTimeout", "abc", "Signaling:AliveTimeout must be a whole number of milliseconds ≥ 1000, got 'abc'" },
        { "Signaling:AllowDiscovery", "yes please", "Signaling:AllowDiscovery must be true or false, got 'yes please'" },
        { "Signaling:UpgradeFastPath", "fast", "Signaling:UpgradeFastPath must be true or false, got 'fast'" },
        { "Signaling:InlineScheduling", "2", "Signaling:InlineScheduling must be true or false, got '2'" },
        { "Signaling:OfflineQueueTotalBytes", "10", "Signaling:OfflineQueueTotalBytes must be a whole number of bytes ≥ 1024, got '10'" },
        { "Signaling:MaxConnections", "-5", "Signaling:MaxConnections must be a whole number of sockets ≥ 0 (0 = from the open-file limit), got '-5'" },
        { "Signaling:MaxConnectionsPerIp", "many", "Signaling:MaxConnectionsPerIp must be a whole number of sockets ≥ 0 (0 = no limit), got 'many'" },
        { "Signaling:CorsOrigins:0", "https://*", "Signaling:CorsOrigins entry 'https://*' is not an origin: use scheme://host[:port] such as https://grafana.example.com or https://*.example.com, no path" },
        { "Signaling:Cluster:LeaseMilliseconds", "15s", "Signaling:Cluster:LeaseMilliseconds must be a whole number of milliseconds between 1000 and 86400000, got '15s'" },
        { "Signaling:Cluster:LeaseMilliseconds", "", "Signaling:Cluster:LeaseMilliseconds must be a whole number of milliseconds between 1000 and 86400000, got ''" },
        { "Signaling:Cluster:LeaseMilliseconds", "500", "Signaling:Cluster:LeaseMilliseconds must be a whole number of milliseconds between 1000 and 86400000, got '500'" },
        { "Signaling:Cluster:KeyPrefix", "", "Signaling:Cluster:KeyPrefix must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-', got ''" },
        { "Signaling:Cluster:KeyPrefix", "team {a}", "Signaling:Cluster:KeyPrefix must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-', got 'team {a}'" },
        { "Signaling:Cluster:ReplicaId", "replica\r\nX-Evil: 1", "Signaling:Cluster:ReplicaId must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-' (or empty for a random one), got 'replica\\r\\nX-Evil: 1'" },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public async Task A_bad_value_stops_the_service_with_one_line_naming_the_setting_the_value_and_what_is_allowed(
        string setting, string value, string expected)
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(
            () => SignalingTestHost.StartAsync(Settings((setting, value))));
        Assert.Equal(expected, ex.Message);
    }

    [Fact]
    public async Task Every_bad_value_gets_its_own_line()
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(
            () => SignalingTestHost.StartAsync(Settings(("ALIVE_TIMEOUT", "x"), ("CONCURRENT_LIMIT", "y"), ("Signaling:ExpireTimeout", "z"))));
        Assert.Equal(
            [
                "ALIVE_TIMEOUT must be a whole number of milliseconds ≥ 1000, got 'x'",
                "Signaling:ExpireTimeout must be a whole number of milliseconds ≥ 1, got 'z'",
                "CONCURRENT_LIMIT must be a whole number of peers ≥ 1, got 'y'",
            ],
            ex.Message.Split(Environment.NewLine));
    }

    [Fact]
    public async Task The_real_service_stops_on_a_bad_environment_value_with_one_stderr_line_and_exit_code_2()
    {
        await using var service = await ServiceProcess.RunToExitAsync(new Dictionary<string, string?>
        {
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["ALIVE_TIMEOUT"] = "abc",
        });

        Assert.Equal(2, service.ExitCode);
        Assert.Equal(["ALIVE_TIMEOUT must be a whole number of milliseconds ≥ 1000, got 'abc'"], service.Stderr);
        Assert.DoesNotContain(service.Stdout, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Generate_key_prints_a_fresh_32_byte_hex_key_that_the_production_guard_accepts()
    {
        await using var first = await ServiceProcess.RunToExitAsync(new Dictionary<string, string?>(), "--generate-key");
        await using var second = await ServiceProcess.RunToExitAsync(new Dictionary<string, string?>(), "--generate-key");

        Assert.Equal(0, first.ExitCode);
        var key = Assert.Single(first.Stdout);
        Assert.Matches(HexKey(), key);
        Assert.Empty(first.Stderr);
        Assert.NotEqual(key, Assert.Single(second.Stdout));
        Assert.Null(ProductionGuard.CheckKey(key, "PEERJS_KEY"));
        Assert.Matches(HexKey(), AccessKey.Generate());
    }

    [Theory]
    [InlineData("https://grafana.example.com", "https://grafana.example.com", true)]
    [InlineData("https://grafana.example.com", "HTTPS://Grafana.Example.com", true)]
    [InlineData("https://grafana.example.com/", "https://grafana.example.com", true)]
    [InlineData("https://grafana.example.com", "https://grafana.example.com:443", true)]
    [InlineData("https://grafana.example.com", "http://grafana.example.com", false)]
    [InlineData("https://grafana.example.com", "https://grafana.example.com:8443", false)]
    [InlineData("https://grafana.example.com", "https://grafana.example.com.evil.io", false)]
    [InlineData("http://localhost:3000", "http://localhost:3000", true)]
    [InlineData("http://localhost:3000", "http://localhost:3001", false)]
    [InlineData("https://*.example.com", "https://grafana.example.com", true)]
    [InlineData("https://*.example.com", "https://a.b.example.com", true)]
    [InlineData("https://*.example.com", "https://example.com", false)]
    [InlineData("https://*.example.com", "https://evilexample.com", false)]
    [InlineData("https://*.example.com", "https://example.com.evil.io", false)]
    [InlineData("https://*.example.com", "http://grafana.example.com", false)]
    [InlineData("https://*.example.com", "https://grafana.example.com:8443", false)]
    [InlineData("https://*.example.com:8443", "https://grafana.example.com:8443", true)]
    [InlineData("https://*.example.com", "null", false)]
    [InlineData("https://*.example.com", "", false)]
    [InlineData("*", "https://anything.example", true)]
    public void The_allow_list_matches_exact_origins_and_wildcard_subdomains(string entry, string origin, bool allowed) =>
        Assert.Equal(allowed, OriginAllowList.Create([entry]).IsAllowed(origin));

    [Fact]
    public void An_empty_allow_list_allows_any_origin()
    {
        var list = OriginAllowList.Create([]);
        Assert.True(list.AllowsAny);
        Assert.True(list.IsAllowed("https://anywhere.example"));
    }
}
