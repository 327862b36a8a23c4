using System.Diagnostics;
using OpenTelemetry.Instrumentation.AspNetCore;

namespace Pathfinder.Signaling.Telemetry;

/// <summary>
/// Keeps the key (and peer tokens) out of exported traces. The HTTP API carries the key in its path
/// (<c>{path}/{key}/id</c>, <c>{path}/{key}/peers</c>) and sockets carry it in the query (<c>?key=…&amp;token=…</c>):
/// the ASP.NET Core request span's <c>url.path</c> gets the key segment replaced by <c>{key}</c>, and
/// <c>url.query</c> keeps parameter names only. Applies whatever the instrumentation's own query redaction is set to.
/// </summary>
public static class TraceRedaction
{
    /// <summary>What replaces a secret in a span attribute.</summary>
    public const string Redacted = "{redacted}";

    public static IServiceCollection AddTraceRedaction(this IServiceCollection services, string peerJsPath)
    {
        services.Configure<AspNetCoreTraceInstrumentationOptions>(options =>
        {
            var enrich = options.EnrichWithHttpRequest;
            options.EnrichWithHttpRequest = (activity, request) =>
            {
                enrich?.Invoke(activity, request);
                Redact(activity, request.Path.Value, request.QueryString.Value, peerJsPath);
            };
        });
        return services;
    }

    /// <summary>Rewrites the url attributes of <paramref name="activity"/> from the request's path and query.</summary>
    public static void Redact(Activity activity, string? path, string? query, string peerJsPath)
    {
        if (path is not null)
        {
            activity.SetTag("url.path", RedactPath(path, peerJsPath));
        }

        if (!string.IsNullOrEmpty(query))
        {
            activity.SetTag("url.query", RedactQuery(query));
        }

        if (activity.GetTagItem("url.full") is not null)
        {
            activity.SetTag("url.full", null);
        }
    }

    /// <summary><c>/pathfinder/s3cret/id</c> → <c>/pathfinder/{key}/id</c>; the socket path and other paths unchanged.</summary>
    public static string RedactPath(string path, string peerJsPath)
    {
        var prefix = peerJsPath + "/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
        {
            return path;
        }

        var rest = path.AsSpan(prefix.Length);
        var slash = rest.IndexOf('/');
        var segment = slash < 0 ? rest : rest[..slash];
        if (segment.Length == 0 || segment.SequenceEqual("peerjs"))
        {
            return path; // the socket's own path holds no secret (its key is in the query)
        }

        return string.Concat(prefix, "{key}", slash < 0 ? ReadOnlySpan<char>.Empty : rest[slash..]);
    }

    /// <summary>Every value dropped: <c>?key=abc&amp;id=x</c> → <c>?key={redacted}&amp;id={redacted}</c>.</summary>
    public static string RedactQuery(string query)
    {
        var trimmed = query.TrimStart('?');
        var parts = trimmed.Split('&');
        for (var i = 0; i < parts.Length; i++)
        {
            var eq = parts[i].IndexOf('=');
            parts[i] = (eq < 0 ? parts[i] : parts[i][..eq]) + "=" + Redacted;
        }

        return "?" + string.Join('&', parts);
    }
}
