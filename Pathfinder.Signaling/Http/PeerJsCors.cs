using Microsoft.AspNetCore.Cors.Infrastructure;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Http;

/// <summary>
/// CORS for the PeerJS HTTP API. The browser client fetches <c>/id</c> and <c>/peers</c> cross-origin, so every
/// response under the path — 200, 401 and 404 alike — and every preflight must carry the headers (§3, §11.12).
/// Default (development): any origin is reflected, as the reference's <c>origin: true</c>. With an allow-list
/// (<see cref="SignalingOptions.CorsOrigins"/>) only listed origins get the headers; the same list governs the
/// WebSocket upgrade (<see cref="Transport.PeerJsSocketEndpoint"/> refuses other origins with 403).
/// </summary>
public static class PeerJsCors
{
    public const string PolicyName = "PeerJs";

    public static void Configure(CorsPolicyBuilder policy, OriginAllowList origins) =>
        policy.SetIsOriginAllowed(origins.IsAllowed)
            .AllowAnyHeader()
            .WithMethods("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE");
}
