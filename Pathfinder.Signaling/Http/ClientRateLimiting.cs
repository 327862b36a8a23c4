using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Telemetry;

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
        var limiterOptions = new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.RateLimitMax,
            Window = TimeSpan.FromMilliseconds(options.RateLimitWindow),
            QueueLimit = 0,
            AutoReplenishment = true,
        };
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                context.Request.Path.StartsWithSegments(apiPath)
                    ? RateLimitPartition.GetFixedWindowLimiter(ClientAddress.Of(context), _ => limiterOptions)
                    : RateLimitPartition.GetNoLimiter(Unlimited));
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
        var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait)
            ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))
            : Math.Max(1, (int)Math.Ceiling(context.RequestServices.GetRequiredService<IOptions<SignalingOptions>>().Value.RateLimitWindow / 1000.0));
        context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        context.Response.ContentType = "text/plain; charset=utf-8";

        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClientRateLimiting).FullName!);
        var remoteIp = ClientAddress.Of(context);
        if (context.WebSockets.IsWebSocketRequest)
        {
            context.RequestServices.GetRequiredService<SignalingMetrics>().Connection(ConnectOutcome.RateLimited);
            Log.HandshakeRejected(logger, ConnectOutcome.RateLimited.Reason(), context.Request.Query["id"].LastOrDefault(), remoteIp);
        }
        else
        {
            Log.RequestRateLimited(logger, remoteIp, retryAfter);
        }

        return new ValueTask(context.Response.WriteAsync("Too Many Requests", cancellationToken));
    }
}
