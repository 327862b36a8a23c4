using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Pathfinder.Signaling.Configuration;

/// <summary>An environment variable of the seed's server (or of Pathfinder) that sets one <c>Signaling</c> setting.</summary>
public sealed record EnvironmentAlias(string Variable, string Setting);

/// <summary>The validated settings and what was loaded from them (the TLS certificate).</summary>
public sealed record SignalingSettings(SignalingOptions Options, X509Certificate2? Certificate);

/// <summary>
/// Reads the <c>Signaling</c> section and the seed's environment variables (which win over the section), checks every
/// value once at start and loads the TLS certificate. Every problem becomes one line naming the setting as the
/// operator wrote it (the environment variable, or <c>Signaling:Name</c>), the value, and what is allowed; the key's
/// value is never echoed.
/// </summary>
public static class SignalingConfiguration
{
    /// <summary>The environment variables understood besides <c>Signaling__Name</c>, with the setting each one sets.</summary>
    public static IReadOnlyList<EnvironmentAlias> EnvironmentAliases { get; } =
    [
        new("PEERJS_PORT", nameof(SignalingOptions.Port)),
        new("PEERJS_PATH", nameof(SignalingOptions.Path)),
        new("PEERJS_KEY", nameof(SignalingOptions.Key)),
        new("ALIVE_TIMEOUT", nameof(SignalingOptions.AliveTimeout)),
        new("EXPIRE_TIMEOUT", nameof(SignalingOptions.ExpireTimeout)),
        new("CONCURRENT_LIMIT", nameof(SignalingOptions.ConcurrentLimit)),
        new("ALLOW_DISCOVERY", nameof(SignalingOptions.AllowDiscovery)),
        new("CORS_ORIGINS", nameof(SignalingOptions.CorsOrigins)),
        new("PROXIED", nameof(SignalingOptions.Proxied)),
        new("KNOWN_PROXIES", nameof(SignalingOptions.KnownProxies)),
        new("MAX_CONNECTIONS_PER_PEER", nameof(SignalingOptions.MaxConnectionsPerIp)),
        new("RATE_LIMIT_ENABLED", nameof(SignalingOptions.RateLimitEnabled)),
        new("RATE_LIMIT_MAX", nameof(SignalingOptions.RateLimitMax)),
        new("RATE_LIMIT_WINDOW_MS", nameof(SignalingOptions.RateLimitWindow)),
        new("TLS_CERT_PATH", nameof(SignalingOptions.TlsCertificatePath)),
        new("TLS_KEY_PATH", nameof(SignalingOptions.TlsKeyPath)),
        new("TLS_CERT_PASSWORD", nameof(SignalingOptions.TlsCertificatePassword)),
        new("LAB_ENABLED", nameof(SignalingOptions.Lab)),
    ];

    /// <summary>Loads and validates; throws <see cref="SignalingConfigurationException"/> with one line per problem.</summary>
    public static SignalingSettings Load(IConfiguration configuration, IHostEnvironment environment)
    {
        var section = configuration.GetSection(SignalingOptions.SectionName);
        var o = new SignalingOptions();
        var errors = new List<string>();
        BindOtherSettings(section, o, errors);

        var r = new Reader(configuration, section, errors);
        o.Port = r.Int(nameof(o.Port), o.Port, 1, 65535, null);
        o.Path = r.Text(nameof(o.Path), o.Path) ?? string.Empty;
        o.Key = r.Text(nameof(o.Key), o.Key) ?? string.Empty;
        o.AliveTimeout = r.Int(nameof(o.AliveTimeout), o.AliveTimeout, 1000, int.MaxValue, "milliseconds");
        o.ExpireTimeout = r.Int(nameof(o.ExpireTimeout), o.ExpireTimeout, 1, int.MaxValue, "milliseconds");
        o.ConcurrentLimit = r.Int(nameof(o.ConcurrentLimit), o.ConcurrentLimit, 1, int.MaxValue, "peers");
        o.MaxConnections = r.Int(nameof(o.MaxConnections), o.MaxConnections, 0, int.MaxValue, "sockets", " (0 = from the open-file limit)");
        o.AllowDiscovery = r.Bool(nameof(o.AllowDiscovery), o.AllowDiscovery);
        o.CleanupOutMsgs = r.Int(nameof(o.CleanupOutMsgs), o.CleanupOutMsgs, 10, int.MaxValue, "milliseconds");
        o.LivenessCheckInterval = r.Int(nameof(o.LivenessCheckInterval), o.LivenessCheckInterval, 10, int.MaxValue, "milliseconds");
        o.MaxMessageBytes = r.Int(nameof(o.MaxMessageBytes), o.MaxMessageBytes, 16 * 1024, 16 * 1024 * 1024, "bytes");
        o.SendQueueCapacity = r.Int(nameof(o.SendQueueCapacity), o.SendQueueCapacity, 16, 1_000_000, "messages");
        o.SendQueueBytes = r.Int(nameof(o.SendQueueBytes), o.SendQueueBytes, 16 * 1024, 1024 * 1024 * 1024, "bytes");
        o.RelayMessagesPerSecond = r.Int(nameof(o.RelayMessagesPerSecond), o.RelayMessagesPerSecond, 1, int.MaxValue, "messages");
        o.RelayMessageBurst = r.Int(nameof(o.RelayMessageBurst), o.RelayMessageBurst, 1, int.MaxValue, "messages");
        o.RelayBytesPerSecond = r.Int(nameof(o.RelayBytesPerSecond), o.RelayBytesPerSecond, 1024, int.MaxValue, "bytes");
        o.RelayByteBurst = r.Int(nameof(o.RelayByteBurst), o.RelayByteBurst, 16 * 1024, int.MaxValue, "bytes");
        o.OfflineQueuePerPeer = r.Int(nameof(o.OfflineQueuePerPeer), o.OfflineQueuePerPeer, 1, 1_000_000, "messages");
        o.OfflineQueueTotalBytes = r.Long(nameof(o.OfflineQueueTotalBytes), o.OfflineQueueTotalBytes, 1024, long.MaxValue, "bytes");
        o.OfflineQueueTotalMessages = r.Int(nameof(o.OfflineQueueTotalMessages), o.OfflineQueueTotalMessages, 1, int.MaxValue, "messages");
        o.OfflineQueuePerSender = r.Int(nameof(o.OfflineQueuePerSender), o.OfflineQueuePerSender, 1, 1_000_000, "messages");
        o.OfflineQueuePerSenderBytes = r.Int(nameof(o.OfflineQueuePerSenderBytes), o.OfflineQueuePerSenderBytes, 1024, int.MaxValue, "bytes");
        o.MaxIdLength = r.Int(nameof(o.MaxIdLength), o.MaxIdLength, 36, 256, "characters", " (generated ids have 36)");
        o.ClientIpv6PrefixLength = r.Int(nameof(o.ClientIpv6PrefixLength), o.ClientIpv6PrefixLength, 32, 128, "bits");
        o.MaxClientPartitions = r.Int(nameof(o.MaxClientPartitions), o.MaxClientPartitions, 16, int.MaxValue, "clients");
        o.CorsOrigins = r.List(nameof(o.CorsOrigins), o.CorsOrigins);
        o.Proxied = r.Bool(nameof(o.Proxied), o.Proxied);
        o.KnownProxies = r.List(nameof(o.KnownProxies), o.KnownProxies);
        o.MaxConnectionsPerIp = r.Int(nameof(o.MaxConnectionsPerIp), o.MaxConnectionsPerIp, 0, int.MaxValue, "sockets", " (0 = no limit)");
        o.RateLimitEnabled = r.OptionalBool(nameof(o.RateLimitEnabled), o.RateLimitEnabled);
        o.RateLimitMax = r.Int(nameof(o.RateLimitMax), o.RateLimitMax, 1, int.MaxValue, "requests");
        o.RateLimitWindow = r.Int(nameof(o.RateLimitWindow), o.RateLimitWindow, 1000, int.MaxValue, "milliseconds");
        o.TlsCertificatePath = r.Text(nameof(o.TlsCertificatePath), o.TlsCertificatePath);
        o.TlsKeyPath = r.Text(nameof(o.TlsKeyPath), o.TlsKeyPath);
        o.TlsCertificatePassword = r.Text(nameof(o.TlsCertificatePassword), o.TlsCertificatePassword);
        o.UpgradeFastPath = r.Bool(nameof(o.UpgradeFastPath), o.UpgradeFastPath);
        o.InlineScheduling = r.Bool(nameof(o.InlineScheduling), o.InlineScheduling);
        o.Lab = r.OptionalBool(nameof(o.Lab), o.Lab);
        if (o.Lab == true && !Pathfinder.Signaling.Lab.LabAssets.Built)
        {
            errors.Add($"{r.NameOf(nameof(o.Lab))} is on, but this build has no session lab (it was built with -p:PathfinderLab=false)");
        }

        CheckBudgets(r, o, errors);
        CheckPath(r, o, errors);
        CheckKey(r, o, environment, errors);
        CheckOrigins(r, o, errors);
        CheckProxies(r, o, errors);
        var certificate = errors.Count == 0 ? LoadCertificate(r, o, errors) : null;

        if (errors.Count > 0)
        {
            certificate?.Dispose();
            throw new SignalingConfigurationException(string.Join(Environment.NewLine, errors));
        }

        return new SignalingSettings(o, certificate);
    }

    /// <summary>Parses the known proxies into addresses and networks (valid once <see cref="Load"/> accepted them).</summary>
    public static (IReadOnlyList<IPAddress> Addresses, IReadOnlyList<IPNetwork> Networks) ParseProxies(IEnumerable<string> entries)
    {
        var addresses = new List<IPAddress>();
        var networks = new List<IPNetwork>();
        foreach (var entry in entries)
        {
            if (IPAddress.TryParse(entry, out var address) && !entry.Contains('/'))
            {
                addresses.Add(address);
            }
            else if (IPNetwork.TryParse(entry, out var network))
            {
                networks.Add(network);
            }
            else
            {
                throw new FormatException($"'{entry}' is not an IP address or a network such as 10.0.0.0/8");
            }
        }

        return (addresses, networks);
    }

    // Settings this class does not read itself (added by other features) still bind the usual way.
    private static void BindOtherSettings(IConfigurationSection section, SignalingOptions options, List<string> errors)
    {
        var handled = new HashSet<string>(ReadByName, StringComparer.OrdinalIgnoreCase);
        var others = section.AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null && !handled.Contains(kv.Key.Split(':')[0]))
            .ToList();
        if (others.Count == 0)
        {
            return;
        }

        try
        {
            new ConfigurationBuilder().AddInMemoryCollection(others).Build().Bind(options);
        }
        catch (InvalidOperationException ex)
        {
            errors.Add(ex.Message);
        }
    }

    private static readonly string[] ReadByName =
    [
        nameof(SignalingOptions.Port), nameof(SignalingOptions.Path), nameof(SignalingOptions.Key),
        nameof(SignalingOptions.AliveTimeout), nameof(SignalingOptions.ExpireTimeout), nameof(SignalingOptions.ConcurrentLimit),
        nameof(SignalingOptions.MaxConnections), nameof(SignalingOptions.AllowDiscovery), nameof(SignalingOptions.CleanupOutMsgs), nameof(SignalingOptions.LivenessCheckInterval),
        nameof(SignalingOptions.MaxMessageBytes), nameof(SignalingOptions.SendQueueCapacity), nameof(SignalingOptions.SendQueueBytes),
        nameof(SignalingOptions.RelayMessagesPerSecond), nameof(SignalingOptions.RelayMessageBurst), nameof(SignalingOptions.RelayBytesPerSecond),
        nameof(SignalingOptions.RelayByteBurst), nameof(SignalingOptions.OfflineQueuePerPeer),
        nameof(SignalingOptions.OfflineQueueTotalBytes), nameof(SignalingOptions.OfflineQueueTotalMessages), nameof(SignalingOptions.OfflineQueuePerSender),
        nameof(SignalingOptions.OfflineQueuePerSenderBytes), nameof(SignalingOptions.MaxIdLength), nameof(SignalingOptions.ClientIpv6PrefixLength),
        nameof(SignalingOptions.MaxClientPartitions), nameof(SignalingOptions.CorsOrigins), nameof(SignalingOptions.Proxied),
        nameof(SignalingOptions.KnownProxies), nameof(SignalingOptions.MaxConnectionsPerIp), nameof(SignalingOptions.RateLimitEnabled),
        nameof(SignalingOptions.RateLimitMax), nameof(SignalingOptions.RateLimitWindow), nameof(SignalingOptions.TlsCertificatePath),
        nameof(SignalingOptions.TlsKeyPath), nameof(SignalingOptions.TlsCertificatePassword),
        nameof(SignalingOptions.UpgradeFastPath), nameof(SignalingOptions.InlineScheduling), nameof(SignalingOptions.Lab),
    ];

    // A budget smaller than one message would refuse every message of the largest allowed size.
    private static void CheckBudgets(Reader r, SignalingOptions o, List<string> errors)
    {
        foreach (var (setting, value) in new[]
        {
            (nameof(o.SendQueueBytes), (long)o.SendQueueBytes),
            (nameof(o.RelayByteBurst), o.RelayByteBurst),
            (nameof(o.OfflineQueuePerSenderBytes), o.OfflineQueuePerSenderBytes),
            (nameof(o.OfflineQueueTotalBytes), o.OfflineQueueTotalBytes),
        })
        {
            if (value < o.MaxMessageBytes)
            {
                errors.Add($"{r.NameOf(setting)} must be at least {r.NameOf(nameof(o.MaxMessageBytes))} ({o.MaxMessageBytes} bytes), got '{value}'");
            }
        }
    }

    private static void CheckPath(Reader r, SignalingOptions o, List<string> errors)
    {
        var path = o.Path;
        if (path.Contains('?') || path.Contains('#') || path.Contains(' ') || path.Contains("//", StringComparison.Ordinal))
        {
            errors.Add($"{r.NameOf(nameof(o.Path))} must be a URL path such as /pathfinder, got '{path}'");
        }
    }

    private static void CheckKey(Reader r, SignalingOptions o, IHostEnvironment environment, List<string> errors)
    {
        // Every environment but Development faces real clients (Staging, Production, custom names): a strong key.
        if (!environment.IsDevelopment())
        {
            if (ProductionGuard.CheckKey(o.Key, r.Source(nameof(o.Key))) is { } problem)
            {
                errors.Add(problem);
            }
        }
        else if (string.IsNullOrEmpty(o.Key))
        {
            errors.Add($"{r.NameOf(nameof(o.Key))} must not be empty");
        }
    }

    private static void CheckOrigins(Reader r, SignalingOptions o, List<string> errors)
    {
        try
        {
            OriginAllowList.Create(o.CorsOrigins);
        }
        catch (FormatException ex)
        {
            errors.Add($"{r.NameOf(nameof(o.CorsOrigins))} entry {ex.Message}");
        }
    }

    private static void CheckProxies(Reader r, SignalingOptions o, List<string> errors)
    {
        try
        {
            ParseProxies(o.KnownProxies);
        }
        catch (FormatException ex)
        {
            errors.Add($"{r.NameOf(nameof(o.KnownProxies))} entry {ex.Message}");
        }
    }

    private static X509Certificate2? LoadCertificate(Reader r, SignalingOptions o, List<string> errors)
    {
        var certName = r.NameOf(nameof(o.TlsCertificatePath));
        if (string.IsNullOrEmpty(o.TlsCertificatePath))
        {
            if (!string.IsNullOrEmpty(o.TlsKeyPath))
            {
                errors.Add($"{r.NameOf(nameof(o.TlsKeyPath))} is set but no certificate is: set TLS_CERT_PATH (or Signaling:TlsCertificatePath) too");
            }

            return null;
        }

        foreach (var (name, file) in new[] { (certName, o.TlsCertificatePath), (r.NameOf(nameof(o.TlsKeyPath)), o.TlsKeyPath) })
        {
            if (!string.IsNullOrEmpty(file) && !File.Exists(file))
            {
                errors.Add($"{name} must name a readable file, got '{file}' (not found)");
                return null;
            }
        }

        try
        {
            return TlsCertificate.Load(o.TlsCertificatePath, o.TlsKeyPath, o.TlsCertificatePassword);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or ArgumentException or InvalidOperationException or IOException)
        {
            errors.Add($"{certName} '{o.TlsCertificatePath}' could not be loaded as a certificate with its private key: {ex.Message.ReplaceLineEndings(" ")}");
            return null;
        }
    }

    /// <summary>Reads one setting: its environment variable when set (non-empty), else <c>Signaling:Name</c>.</summary>
    private sealed class Reader(IConfiguration root, IConfigurationSection section, List<string> errors)
    {
        private static readonly Dictionary<string, string> VariableOf = EnvironmentAliases
            .ToDictionary(a => a.Setting, a => a.Variable, StringComparer.OrdinalIgnoreCase);

        /// <summary>The environment variable when it is set, else null (the setting came from the section or a default).</summary>
        public string? Source(string setting) =>
            VariableOf.TryGetValue(setting, out var variable) && !string.IsNullOrEmpty(root[variable]) ? variable : null;

        /// <summary>How the operator wrote the setting: the environment variable if it is set, else Signaling:Name.</summary>
        public string NameOf(string setting) => Source(setting) ?? $"{SignalingOptions.SectionName}:{setting}";

        private string? Raw(string setting) => Source(setting) is { } variable ? root[variable] : section[setting];

        public string? Text(string setting, string? current) => Raw(setting) ?? current;

        public int Int(string setting, int current, int min, int max, string? unit, string? note = null) =>
            (int)Long(setting, current, min, max, unit, note);

        public long Long(string setting, long current, long min, long max, string? unit, string? note = null)
        {
            var raw = Raw(setting);
            if (raw is null)
            {
                return current;
            }

            if (long.TryParse(raw.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
                && value >= min && value <= max)
            {
                return value;
            }

            var what = unit is null ? "a whole number" : $"a whole number of {unit}";
            var range = max == int.MaxValue || max == long.MaxValue ? $"≥ {min}" : $"between {min} and {max}";
            errors.Add($"{NameOf(setting)} must be {what} {range}{note}, got '{raw}'");
            return current;
        }

        public bool Bool(string setting, bool current) => OptionalBool(setting, current) ?? current;

        public bool? OptionalBool(string setting, bool? current)
        {
            var raw = Raw(setting);
            if (raw is null)
            {
                return current;
            }

            switch (raw.Trim().ToLowerInvariant())
            {
                case "true" or "1" or "yes" or "on":
                    return true;
                case "false" or "0" or "no" or "off":
                    return false;
                case "" when current is null:
                    return null;
                default:
                    errors.Add($"{NameOf(setting)} must be true or false, got '{raw}'");
                    return current;
            }
        }

        /// <summary>A list: comma-separated in an environment variable or a single value, or an array in the section.</summary>
        public string[] List(string setting, string[] current)
        {
            string[] Split(string text) =>
                text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

            if (Source(setting) is { } variable)
            {
                return Split(root[variable]!);
            }

            var child = section.GetSection(setting);
            if (child.Value is { } single)
            {
                return Split(single);
            }

            var items = child.GetChildren().Select(c => c.Value).OfType<string>().ToArray();
            return items.Length > 0 ? items.SelectMany(Split).ToArray() : current;
        }
    }
}
