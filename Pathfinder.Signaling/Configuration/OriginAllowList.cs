namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// The CORS allow-list (<see cref="SignalingOptions.CorsOrigins"/>): exact origins such as
/// <c>https://grafana.example.com</c> and wildcard subdomains such as <c>https://*.example.com</c> (any depth of
/// subdomain, not the apex itself). Scheme, host and port must all match; comparison ignores case. An empty list or
/// <c>*</c> allows any origin. The same list governs the HTTP API's CORS and the WebSocket upgrade's Origin.
/// </summary>
public sealed class OriginAllowList
{
    private readonly HashSet<string> _exact = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string Scheme, string Suffix, int Port)> _wildcards = [];

    private OriginAllowList(bool allowsAny) => AllowsAny = allowsAny;

    /// <summary>No restriction: any origin (and requests without one) are allowed.</summary>
    public bool AllowsAny { get; }

    /// <summary>Parses the configured entries; throws <see cref="FormatException"/> naming the first bad entry.</summary>
    public static OriginAllowList Create(IEnumerable<string> entries)
    {
        var list = entries.Select(e => e.Trim()).Where(e => e.Length > 0).ToList();
        var allowList = new OriginAllowList(list.Count == 0 || list.Contains("*"));
        foreach (var entry in list.Where(e => e != "*"))
        {
            if (!TryParse(entry, out var scheme, out var host, out var port))
            {
                throw new FormatException(
                    $"'{entry}' is not an origin: use scheme://host[:port] such as https://grafana.example.com or https://*.example.com, no path");
            }

            if (host.StartsWith("*.", StringComparison.Ordinal))
            {
                allowList._wildcards.Add((scheme, host[1..], port));
            }
            else
            {
                allowList._exact.Add(Format(scheme, host, port));
            }
        }

        return allowList;
    }

    /// <summary>Whether a request carrying this Origin header value may use the API or open a socket.</summary>
    public bool IsAllowed(string? origin)
    {
        if (AllowsAny)
        {
            return true;
        }

        if (string.IsNullOrEmpty(origin) || !TryParse(origin, out var scheme, out var host, out var port) || host.Contains('*'))
        {
            return false;
        }

        if (_exact.Contains(Format(scheme, host, port)))
        {
            return true;
        }

        foreach (var (wildScheme, suffix, wildPort) in _wildcards)
        {
            if (wildPort == port
                && string.Equals(wildScheme, scheme, StringComparison.OrdinalIgnoreCase)
                && host.Length > suffix.Length
                && host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static string Format(string scheme, string host, int port) => $"{scheme}://{host}:{port}";

    // An origin is scheme "://" host [":" port] with nothing after it (a trailing slash is tolerated in configuration).
    private static bool TryParse(string value, out string scheme, out string host, out int port)
    {
        scheme = host = string.Empty;
        port = 0;
        var text = value.TrimEnd('/');
        var wildcard = text.Contains("://*.", StringComparison.Ordinal);
        var probe = wildcard ? text.Replace("://*.", "://wildcard.", StringComparison.Ordinal) : text;
        if (!Uri.TryCreate(probe, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https")
            || uri.AbsolutePath != "/"
            || uri.Query.Length > 0
            || uri.Fragment.Length > 0
            || uri.UserInfo.Length > 0
            || !probe.StartsWith(uri.Scheme + "://", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        scheme = uri.Scheme;
        host = wildcard ? "*." + uri.IdnHost["wildcard.".Length..] : uri.IdnHost;
        port = uri.Port;
        return wildcard ? host.Length > 2 && !host[2..].Contains('*') : !host.Contains('*');
    }
}
