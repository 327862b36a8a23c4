using Microsoft.AspNetCore.Cors.Infrastructure;

namespace Pathfinder.Signaling.Http;

/// <summary>
/// CORS for the PeerJS HTTP API. The browser client fetches <c>/id</c> and <c>/peers</c> cross-origin, so every
/// response under the path — 200, 401 and 404 alike — and every preflight must carry the headers (§3, §11.12).
/// Default (development): any origin is reflected, as the reference's <c>origin: true</c>.
/// </summary>
public static class PeerJsCors
{
    public const string PolicyName = "PeerJs";

    public static void Configure(CorsPolicyBuilder policy) =>
        policy.SetIsOriginAllowed(static _ => true)
            .AllowAnyHeader()
            .WithMethods("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE");
}
