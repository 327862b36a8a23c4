using Microsoft.Extensions.Logging.Console;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Hosting;

/// <summary>
/// How the process listens and writes its console log: the port (unless the host was given URLs), HTTPS/WSS from
/// Kestrel when a certificate is configured, and the console log format (<c>LOG_FORMAT</c>).
/// </summary>
public static class Listening
{
    /// <summary>Console log formats accepted by <c>LOG_FORMAT</c> (ASP.NET Core's formatters).</summary>
    public static readonly string[] LogFormats = [ConsoleFormatterNames.Simple, ConsoleFormatterNames.Json, ConsoleFormatterNames.Systemd];

    public static WebApplicationBuilder ConfigureListening(this WebApplicationBuilder builder, SignalingSettings settings)
    {
        var certificate = settings.Certificate;
        if (!HasConfiguredUrls(builder.Configuration))
        {
            var url = $"{(certificate is null ? "http" : "https")}://+:{settings.Options.Port}";
            StartupFailure.ThrowIfPortInUse(url);
            builder.WebHost.UseUrls(url);
        }
        else if (builder.Configuration["urls"] is { Length: > 0 } urls)
        {
            StartupFailure.ThrowIfPortInUse(urls);
        }

        if (certificate is not null)
        {
            // Every https:// endpoint (ours, ASPNETCORE_URLS, --urls) serves this certificate unless Kestrel's own
            // configuration names another.
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate));
        }

        return builder;
    }

    /// <summary><c>LOG_FORMAT=simple|json|systemd</c> chooses the console formatter (as <c>Logging:Console:FormatterName</c> does).</summary>
    /// <summary>Framework log categories that write request URLs (and so would write the key).</summary>
    public static readonly string[] KeyBearingCategories =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.HttpLogging",
        "Microsoft.AspNetCore.Cors",
        "Microsoft.AspNetCore.RateLimiting",
        "Microsoft.AspNetCore.HttpOverrides",
        "Microsoft.AspNetCore.WebSockets",
        "Microsoft.AspNetCore.Http",
    ];

    public static WebApplicationBuilder ConfigureLogFormat(this WebApplicationBuilder builder)
    {
        // ASP.NET Core's request and routing logs print URLs, and PeerJS URLs carry the key (the WebSocket query,
        // the /{key}/id path): those categories never log below Warning, whatever Logging:LogLevel says.
        foreach (var category in KeyBearingCategories)
        {
            builder.Logging.AddFilter(category, LogLevel.Warning);
        }


        var format = builder.Configuration["LOG_FORMAT"]?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(format))
        {
            return builder;
        }

        if (!LogFormats.Contains(format))
        {
            throw new SignalingConfigurationException(
                $"LOG_FORMAT must be one of {string.Join(", ", LogFormats)}, got '{builder.Configuration["LOG_FORMAT"]}'");
        }

        builder.Logging.AddConsole(console => console.FormatterName = format);
        if (format == ConsoleFormatterNames.Json)
        {
            builder.Logging.AddJsonConsole(json =>
            {
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }

        return builder;
    }

    private static bool HasConfiguredUrls(ConfigurationManager configuration) =>
        !string.IsNullOrEmpty(configuration["urls"])
        || !string.IsNullOrEmpty(configuration["http_ports"])
        || !string.IsNullOrEmpty(configuration["https_ports"])
        || configuration.GetSection("Kestrel:Endpoints").GetChildren().Any();
}
