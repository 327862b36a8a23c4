using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.HttpOverrides;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Telemetry;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling.Http;

/// <summary>
/// X-Forwarded-For / X-Forwarded-Proto, honoured only from the configured proxies (<see cref="SignalingOptions.Proxied"/>,
/// <see cref="SignalingOptions.KnownProxies"/>) so that per-IP limits and logs see the real client IP, and headers
/// forged by anyone else are ignored. The chain is walked back through known proxies only: the first address that is
/// not a known proxy is the client.
/// </summary>
public static class TrustedProxies
{
    /// <summary>Whether forwarded headers are honoured at all.</summary>
    public static bool Enabled(SignalingOptions options) => options.Proxied || options.KnownProxies.Length > 0;

    public static IServiceCollection AddTrustedProxies(this IServiceCollection services, SignalingOptions options)
    {
        services.Configure<ForwardedHeadersOptions>(forwarded =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            forwarded.ForwardLimit = null;
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            var (addresses, networks) = SignalingConfiguration.ParseProxies(options.KnownProxies);
            if (addresses.Count == 0 && networks.Count == 0)
            {
                // "Proxied" without a list: a proxy on the same machine.
                forwarded.KnownIPNetworks.Add(new System.Net.IPNetwork(IPAddress.Loopback, 8));
                forwarded.KnownProxies.Add(IPAddress.IPv6Loopback);
            }

            foreach (var address in addresses)
            {
                forwarded.KnownProxies.Add(address);
            }

            foreach (var network in networks)
            {
                forwarded.KnownIPNetworks.Add(network);
            }
        });
        return services;
    }

    /// <summary>Applies trusted forwarded headers; otherwise warns once that forwarded headers are arriving and being ignored.</summary>
    public static IApplicationBuilder UseTrustedProxies(this IApplicationBuilder app, SignalingOptions options)
    {
        if (Enabled(options))
        {
            app.UseForwardedHeaders();
        }

        var warned = new StrongBox<int>();
        return app.Use((context, next) =>
        {
            // X-Original-For is set when the forwarded headers were applied; without it they came from an untrusted source.
            if (context.Request.Headers.ContainsKey("X-Forwarded-For")
                && !context.Request.Headers.ContainsKey("X-Original-For")
                && Interlocked.Exchange(ref warned.Value, 1) == 0)
            {
                var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TrustedProxies).FullName!);
                Log.ForwardedHeadersIgnored(logger, ClientAddress.Of(context));
            }

            return next(context);
        });
    }
}
