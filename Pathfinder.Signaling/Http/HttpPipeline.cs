using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Http;

/// <summary>
/// The middleware in front of the PeerJS endpoints, in the order it must run: trusted forwarded headers (so everything
/// after sees the real client IP and scheme), WebSockets, CORS for the API (preflights are answered before they count
/// against a limit, and a 429 still carries CORS headers for an allowed origin), then the per-IP rate limit (429
/// before any upgrade).
/// </summary>
public static class HttpPipeline
{
    public static IServiceCollection AddPeerJsHttp(this IServiceCollection services, SignalingOptions options, IHostEnvironment environment)
    {
        var origins = OriginAllowList.Create(options.CorsOrigins);
        services.AddSingleton(origins);
        services.AddCors(cors => cors.AddPolicy(PeerJsCors.PolicyName, policy => PeerJsCors.Configure(policy, origins)));
        services.AddTrustedProxies(options);
        services.AddClientRateLimiting(options, environment);
        // First of all middleware (before host filtering): the request-head rules (RequestHeadFilter).
        services.Insert(0, ServiceDescriptor.Singleton<IStartupFilter, RequestHeadFilter>());
        return services;
    }

    public static WebApplication UsePeerJsHttp(this WebApplication app, SignalingOptions options)
    {
        var apiPath = new PathString(options.NormalizedPath.Length == 0 ? "/" : options.NormalizedPath);
        var replica = app.Services.GetRequiredService<Routing.ReplicaIdentity>().Id;
        app.Use((context, next) =>
        {
            // Which replica answered (API, health, and the WebSocket's 101): useful behind any load balancer.
            context.Response.Headers[Routing.ReplicaIdentity.HeaderName] = replica;
            return next(context);
        });
        app.UseTrustedProxies(options);
        app.UseWebSockets();
        app.UseWhen(
            context => context.Request.Path.StartsWithSegments(apiPath) && !context.WebSockets.IsWebSocketRequest,
            branch => branch.UseCors(PeerJsCors.PolicyName));
        app.UseClientRateLimiting(options, app.Environment);
        return app;
    }

    // Runs before every other middleware: the head of a request the upgrade fast path handed over has arrived (its
    // header deadline no longer applies), and header names must be RFC 9110 tokens (400), which Kestrel does not check.
    private sealed class RequestHeadFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                context.Features.Get<Transport.UpgradeHeadDeadline>()?.HeadReceived();
                if (!Transport.HttpToken.AllNamesAreTokens(context.Request.Headers))
                {
                    context.Response.StatusCode = StatusCodes.Status400BadRequest;
                    context.Response.Headers.Connection = "close";
                    return Task.CompletedTask;
                }

                return nextMiddleware(context);
            });
            next(app);
        };
    }
}
