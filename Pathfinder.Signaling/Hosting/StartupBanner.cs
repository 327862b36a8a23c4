using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Http;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Hosting;

/// <summary>
/// Once the server is listening: the seed's banner box (name, URL with path, status) on the console — or, when the
/// console log is structured (json/systemd), a "listening" log event instead, so log lines stay parseable — and a
/// warning for each production protection left off.
/// </summary>
public static class StartupBanner
{
    public const string Name = "Pathfinder Signaling (PeerJS server)";

    public static WebApplication ShowStartupBanner(this WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() => Show(app));
        return app;
    }

    private static void Show(WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<SignalingOptions>>().Value;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StartupBanner).FullName!);
        var urls = (app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
            .Select(address => Displayable(address) + options.NormalizedPath)
            .ToList();
        var status = Status(app, options);
        var labs = options.LabOn(app.Environment) && Lab.LabAssets.Built
            ? (app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
                .Select(address => Lab.LabEndpoints.UrlUnder(Displayable(address)))
                .ToList()
            : [];

        var format = app.Services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName;
        if (string.IsNullOrEmpty(format) || format == ConsoleFormatterNames.Simple)
        {
            Console.Out.Write(Box(urls, status, labs));
            Console.Out.Flush();
        }
        else
        {
            foreach (var url in urls)
            {
                Log.Listening(logger, url, app.Environment.EnvironmentName);
            }

            foreach (var lab in labs)
            {
                Log.LabServed(logger, lab);
            }
        }

        if (options.LabOn(app.Environment) && !Lab.LabAssets.Built)
        {
            Log.LabNotBuilt(logger);
        }

        if (Transport.PlatformSocket.Chosen)
        {
            Log.PlatformFraming(logger, Transport.PlatformSocket.Variable);
        }

        var (limit, inUse) = OpenFileLimit.Budget;
        if (limit is { } openFiles)
        {
            var kestrel = app.Services.GetRequiredService<IOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>>().Value;
            Log.OpenFileCaps(
                logger,
                openFiles,
                inUse,
                app.Services.GetRequiredService<Routing.PeerRouter>().ConcurrentLimit,
                kestrel.Limits.MaxConcurrentConnections?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unlimited");
        }

        if (app.Environment.IsProduction())
        {
            if (options.CorsOrigins.Length == 0)
            {
                Log.ProductionAdvice(logger, "CORS_ORIGINS", "any website may call the API and open sockets; list the Grafana origins (https://*.example.com works)");
            }

            if (string.IsNullOrEmpty(options.TlsCertificatePath) && !TrustedProxies.Enabled(options))
            {
                Log.ProductionAdvice(logger, "TLS_CERT_PATH", "serving plain HTTP/WS; give a certificate, or terminate TLS at a proxy and set KNOWN_PROXIES");
            }
        }
    }

    /// <summary>The box, e.g. for <c>http://localhost:9000/pathfinder</c> (and the session lab's URLs when it is on).</summary>
    public static string Box(IReadOnlyList<string> urls, string status, IReadOnlyList<string>? labs = null)
    {
        var lines = new List<string> { Name, string.Empty };
        lines.AddRange(urls.Select(url => "URL:    " + url));
        lines.AddRange(urls.Select(url => "Socket: " + url.Replace("http", "ws", StringComparison.Ordinal) + "/peerjs"));
        lines.AddRange((labs ?? []).Select(url => "Lab:    " + url));
        lines.Add("Status: " + status);
        var width = lines.Max(l => l.Length) + 4;
        var box = new StringBuilder();
        box.Append('╔').Append('═', width).Append('╗').AppendLine();
        foreach (var line in lines)
        {
            box.Append("║  ").Append(line.PadRight(width - 2)).Append('║').AppendLine();
        }

        box.Append('╚').Append('═', width).Append('╝').AppendLine();
        return box.ToString();
    }

    private static string Status(WebApplication app, SignalingOptions options)
    {
        var parts = new List<string> { "running", app.Environment.EnvironmentName };
        parts.Add(string.IsNullOrEmpty(options.TlsCertificatePath) ? "no TLS" : "TLS");
        parts.Add(options.CorsOrigins.Length == 0 ? "any origin" : $"{options.CorsOrigins.Length} allowed origin(s)");
        parts.Add(options.RateLimitingOn(app.Environment)
            ? $"{options.RateLimitMax} requests/{options.RateLimitWindow / 1000} s per IP"
            : "no rate limit");
        return string.Join(", ", parts);
    }

    // Kestrel reports wildcard bindings as http://[::]:9000 or http://0.0.0.0:9000; a person wants localhost.
    private static string Displayable(string address)
    {
        foreach (var wildcard in new[] { "://[::]:", "://0.0.0.0:", "://+:", "://*:" })
        {
            address = address.Replace(wildcard, "://localhost:", StringComparison.Ordinal);
        }

        return address.TrimEnd('/');
    }
}
