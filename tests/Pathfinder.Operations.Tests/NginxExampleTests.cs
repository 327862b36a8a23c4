using System.Globalization;
using System.Text.RegularExpressions;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Operations.Tests;

/// <summary>
/// deploy/nginx/pathfinder-signaling.conf matches the service: the PeerJS path and port, the WebSocket upgrade,
/// forwarded headers the service trusts only from KNOWN_PROXIES (set for this nginx in the environment example), TLS,
/// and timeouts far above the client's heartbeat.
/// </summary>
public sealed partial class NginxExampleTests
{
    private static readonly string Config = Repo.Read("deploy/nginx/pathfinder-signaling.conf");
    private static readonly SignalingOptions Defaults = new();

    [Fact]
    public void Proxies_the_PeerJS_path_to_the_service_port_with_the_WebSocket_upgrade()
    {
        var location = Block($"location {Defaults.Path}");
        Assert.Matches($@"server 127\.0\.0\.1:{Defaults.Port};", Block("upstream pathfinder_signaling"));
        Assert.Contains("proxy_pass http://pathfinder_signaling;", location, StringComparison.Ordinal);
        Assert.Contains("proxy_http_version 1.1;", location, StringComparison.Ordinal);
        Assert.Matches(@"proxy_set_header\s+Upgrade\s+\$http_upgrade;", location);
        Assert.Matches(@"proxy_set_header\s+Connection\s+\$pathfinder_connection;", location);
        Assert.Matches(@"map \$http_upgrade \$pathfinder_connection \{\s*default\s+upgrade;", Config);
    }

    [Fact]
    public void Sends_the_forwarded_headers_the_service_trusts_from_its_known_proxies()
    {
        var location = Block($"location {Defaults.Path}");
        Assert.Matches(@"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;", location);
        Assert.Matches(@"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;", location);

        // The service's setting (as it names it) and the example environment trusting this nginx (same host).
        Assert.Contains(SignalingConfiguration.EnvironmentAliases, a => a.Variable == "KNOWN_PROXIES" && a.Setting == nameof(SignalingOptions.KnownProxies));
        Assert.Contains("KNOWN_PROXIES=127.0.0.1", Config, StringComparison.Ordinal);
        var env = Repo.Read("deploy/signaling.env.example");
        var knownProxies = KnownProxiesLine().Match(env);
        Assert.True(knownProxies.Success, "deploy/signaling.env.example sets no KNOWN_PROXIES");
        var (addresses, _) = SignalingConfiguration.ParseProxies(knownProxies.Groups["value"].Value.Split(','));
        Assert.Contains(addresses, a => a.ToString() == "127.0.0.1");
    }

    [Fact]
    public void Terminates_TLS_and_keeps_quiet_sockets_open_far_longer_than_the_heartbeat()
    {
        var tls = Block("server {\n    listen 443 ssl;");
        Assert.Contains("ssl_certificate ", tls, StringComparison.Ordinal);
        Assert.Contains("ssl_certificate_key ", tls, StringComparison.Ordinal);
        Assert.Matches(@"return 301 https://", Config);

        var location = Block($"location {Defaults.Path}");
        foreach (var directive in new[] { "proxy_read_timeout", "proxy_send_timeout" })
        {
            var match = Regex.Match(location, directive + @"\s+(?<seconds>\d+)s;");
            Assert.True(match.Success, directive + " missing");
            var seconds = int.Parse(match.Groups["seconds"].Value, CultureInfo.InvariantCulture);
            Assert.True(seconds * 1000 >= 10 * Defaults.AliveTimeout, $"{directive} {seconds}s is short for sockets that live a whole session");
        }
    }

    [Fact]
    public void Has_a_commented_out_lab_location_that_forwards_the_labs_route_with_the_trusted_headers()
    {
        // Off by default (the lab is for checking a deployment); one uncommented line away, as docs/production.md says.
        var line = Config.Split('\n').SingleOrDefault(l => l.TrimStart().StartsWith($"# location {Pathfinder.Signaling.Lab.LabEndpoints.Route} ", StringComparison.Ordinal));
        Assert.True(line is not null, $"no commented 'location {Pathfinder.Signaling.Lab.LabEndpoints.Route}' line");
        Assert.Contains("proxy_pass http://pathfinder_signaling;", line, StringComparison.Ordinal);
        Assert.Matches(@"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;", line);
        Assert.Matches(@"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;", line);
        Assert.Contains("uncomment the `location /lab` line", Repo.Read("docs/production.md"), StringComparison.Ordinal);
    }

    /// <summary>The text of the block that starts with <paramref name="opening"/> up to its matching brace.</summary>
    private static string Block(string opening)
    {
        var start = Config.IndexOf(opening, StringComparison.Ordinal);
        Assert.True(start >= 0, $"no '{opening}' block");
        var depth = 0;
        for (var i = Config.IndexOf('{', start); i < Config.Length; i++)
        {
            depth += Config[i] switch { '{' => 1, '}' => -1, _ => 0 };
            if (depth == 0)
            {
                return Config[start..(i + 1)];
            }
        }

        throw new InvalidOperationException("unbalanced braces after " + opening);
    }

    [GeneratedRegex(@"^KNOWN_PROXIES=(?<value>\S+)$", RegexOptions.Multiline)]
    private static partial Regex KnownProxiesLine();
}
