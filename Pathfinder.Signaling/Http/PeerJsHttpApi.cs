using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Http;

/// <summary>
/// The PeerJS HTTP API under the configured path (§3): server info, a fresh id, and the peer list. Unlike the
/// reference, the key segment IS checked. Every response under the path carries CORS headers (see
/// <see cref="PeerJsCors"/>), 401s and 404s included.
/// </summary>
public static class PeerJsHttpApi
{
    private const string Unauthorized = "Unauthorized";

    public static IEndpointRouteBuilder MapPeerJsHttpApi(this IEndpointRouteBuilder endpoints, string path)
    {
        var group = endpoints.MapGroup(path.Length == 0 ? "/" : path);

        // Routing treats "{path}" and "{path}/" alike.
        group.MapMethods("/", ["GET", "HEAD"], ServerInfoAsync);

        group.MapMethods("/{key}/id", ["GET", "HEAD"], NewIdAsync);
        group.MapMethods("/{key}/peers", ["GET", "HEAD"], PeersAsync);
        group.MapFallback("/{**rest}", NotFoundAsync);
        return endpoints;
    }

    private static Task ServerInfoAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsJsonAsync(ServerInfo.PeerJs, ProtocolJsonContext.Default.ServerInfo, contentType: "application/json; charset=utf-8");
    }

    private static async Task NewIdAsync(HttpContext context, string key, AccessKey accessKey, PeerRouter router)
    {
        if (!accessKey.Matches(key))
        {
            await WriteUnauthorizedAsync(context);
            return;
        }

        var id = await router.NewIdAsync(context.RequestAborted);
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsync(id, context.RequestAborted);
    }

    private static async Task PeersAsync(
        HttpContext context,
        string key,
        AccessKey accessKey,
        PeerRouter router,
        Microsoft.Extensions.Options.IOptions<SignalingOptions> options)
    {
        if (!options.Value.AllowDiscovery || !accessKey.Matches(key))
        {
            await WriteUnauthorizedAsync(context);
            return;
        }

        var ids = await router.GetPeerIdsAsync(context.RequestAborted);
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsJsonAsync(ids, ProtocolJsonContext.Default.IReadOnlyListString, contentType: "application/json; charset=utf-8", context.RequestAborted);
    }

    private static Task NotFoundAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync($"Cannot {context.Request.Method} {context.Request.Path}", context.RequestAborted);
    }

    private static Task WriteUnauthorizedAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(Unauthorized, context.RequestAborted);
    }
}
