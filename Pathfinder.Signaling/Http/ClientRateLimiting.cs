using System.Globalization;
using Microsoft.AspNetCore.RateLimiting;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Telemetry;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling.Http;

/// <summary>
/// Rate limiting per client IP (ASP.NET Core's RateLimiter, fixed windows) for everything under the PeerJS path: the
/// HTTP API and WebSocket upgrades. Health endpoints are never limited. Over the limit: 429 with Retry-After, before
/// any upgrade; other IPs are unaffected. Off in Development unless enabled; on elsewhere with the seed's 100 requests
/// per 15 minutes unless configured.
/// </summary>
public static class ClientRateLimiting
{
    private const string Unlimited = "";

    public static IServiceCollection AddClientRateLimiting(this IServiceCollection services, SignalingOptions options, IHostEnvironment environment)
    {
        if (!options.RateLimitingOn(environment))
        {
            return services;
        }

        var apiPath = ApiPath(options);
        var grouping = ClientGrouping.From(options);
        var window = TimeSpan.FromMilliseconds(options.RateLimitWindow);
        // One fixed window per client group, shared by the HTTP middleware and the WebSocket fast path (Transport), so
        // a client's API requests and socket upgrades draw on the same budget whichever way they arrive. At most
        // MaxClientPartitions groups are tracked: a new group past that gets 429 until the oldest window ends.
        var byClient = new ClientWindowLimiter(options.RateLimitMax, window, options.MaxClientPartitions, TimeProvider.System);
        services.AddSingleton(new ClientRateLimiter(byClient, window));
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.GlobalLimiter = byClient.WithTranslatedKey<HttpContext>(
                context => context.Request.Path.StartsWithSegments(apiPath) || context.Request.Path.StartsWithSegments(Lab.LabEndpoints.ReplicaLookup)
                    ? grouping.KeyOf(context)
                    : Unlimited,
                leaveOpen: true);
            limiter.OnRejected = OnRejectedAsync;
        });
        return services;
    }

    public static IApplicationBuilder UseClientRateLimiting(this IApplicationBuilder app, SignalingOptions options, IHostEnvironment environment) =>
        options.RateLimitingOn(environment) ? app.UseRateLimiter() : app;

    private static PathString ApiPath(SignalingOptions options) =>
        new(options.NormalizedPath.Length == 0 ? "/" : options.NormalizedPath);

    private static ValueTask OnRejectedAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var context = rejected.HttpContext;
        var retryAfter = context.RequestServices.GetRequiredService<ClientRateLimiter>().RetryAfterSeconds(rejected.Lease);
        context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        context.Response.ContentType = "text/plain; charset=utf-8";

        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClientRateLimiting).FullName!);
        var remoteIp = ClientAddress.Of(context);
        if (context.WebSockets.IsWebSocketRequest)
        {
            // Counted and logged as the fast path does it for the upgrades it answers itself.
            context.RequestServices.GetRequiredService<UpgradePolicy>().RateLimited(UpgradePolicy.QueryValue(context.Request.Query["id"]), remoteIp);
        }
        else
        {
            Log.RequestRateLimited(logger, remoteIp, retryAfter);
        }

        return new ValueTask(context.Response.WriteAsync(UpgradeRefusal.TooManyRequestsBody, cancellationToken));
    }
}
