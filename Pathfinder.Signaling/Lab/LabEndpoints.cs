using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Lab;

/// <summary>
/// The session lab at <c>/lab</c>: a page that runs a live Pathfinder session (presenter, attendees) and a self-test
/// with the real peerjs client against this service, for developers and for operators checking a deployment end to
/// end (behind a proxy, too). On in Development, <c>Signaling:Lab</c> / <c>LAB_ENABLED</c> elsewhere; when off, nothing
/// is mapped (404). The page, its script and the peerjs bundle are embedded at build time (see the .csproj); it serves
/// only what any client of the service already has: the path, the key (public: it ships in the plugin's
/// configuration) and replica names — never a secret.
/// </summary>
public static class LabEndpoints
{
    public const string Route = "/lab";

    /// <summary>The one lab request that asks the directory (Redis): it counts against the per-IP rate limit like the API.</summary>
    public const string ReplicaLookup = Route + "/replica";

    // Same-origin only: scripts, styles and connections (fetch and the peerjs WebSocket) to the service itself.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public static WebApplication MapLab(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<SignalingOptions>>().Value;
        if (!options.LabOn(app.Environment) || !LabAssets.Built)
        {
            return app;
        }

        var lab = app.MapGroup(Route);
        lab.MapGet("/", (HttpContext context) => Asset(context, "lab.html"));
        lab.MapGet("/lab.js", (HttpContext context) => Asset(context, "lab.js"));
        lab.MapGet("/service.js", (HttpContext context) => Asset(context, "service.js"));
        lab.MapGet("/lab.css", (HttpContext context) => Asset(context, "lab.css"));
        lab.MapGet("/peerjs.min.js", (HttpContext context) => Asset(context, "peerjs.min.js"));
        lab.MapGet("/config.json", Config);
        lab.MapGet("/replica", ReplicaOfAsync);
        return app;
    }

    /// <summary>The URL of the lab under a service address (the startup banner, the Aspire dashboard).</summary>
    public static string UrlUnder(string serviceAddress) => serviceAddress.TrimEnd('/') + Route;

    private static async Task Asset(HttpContext context, string name)
    {
        // "/lab/" would resolve the page's relative links one level too deep: send it to "/lab".
        if (name == "lab.html" && context.Request.Path.Value?.EndsWith('/') == true)
        {
            context.Response.StatusCode = StatusCodes.Status301MovedPermanently;
            context.Response.Headers.Location = "../lab";
            return;
        }

        var asset = LabAssets.Find(name);
        if (asset is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        Secure(context.Response);
        context.Response.ContentType = asset.Value.ContentType;
        await using var stream = asset.Value.Open();
        context.Response.ContentLength = stream.Length;
        await stream.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    private static IResult Config(HttpContext context, IOptions<SignalingOptions> options, ReplicaIdentity replica)
    {
        Secure(context.Response);
        var settings = options.Value;
        return Results.Json(
            new LabConfig(settings.NormalizedPath, settings.Key, replica.Id),
            LabJsonContext.Default.LabConfig);
    }

    // Which replica holds a peer's socket: the WebSocket's own response header is out of a page's reach, so the page
    // asks after OPEN. Any replica answers (this one's table, else the directory: the lease names its replica).
    private static async Task<IResult> ReplicaOfAsync(
        HttpContext context,
        string? id,
        PeerIdRules rules,
        LocalPeerTable local,
        IPeerDirectory directory,
        ReplicaIdentity replica)
    {
        Secure(context.Response);
        if (id is null || !rules.IsValidId(id))
        {
            return Results.Json(new LabError(rules.InvalidIdText), LabJsonContext.Default.LabError, statusCode: StatusCodes.Status400BadRequest);
        }

        var holder = local.TryGet(id, out _) ? replica.Id : await directory.ReplicaOfAsync(id, context.RequestAborted);
        return Results.Json(new LabReplica(id, holder, replica.Id), LabJsonContext.Default.LabReplica);
    }

    private static void Secure(HttpResponse response)
    {
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.CacheControl = "no-store";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }
}

/// <summary>What the page needs to connect: the service's path and key, and the replica that answered.</summary>
public sealed record LabConfig(string Path, string Key, string Replica);

/// <summary>The replica holding <c>Peer</c>'s socket (null: not registered), and the replica that answered.</summary>
public sealed record LabReplica(string Peer, string? Replica, string AnsweredBy);

public sealed record LabError(string Error);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(LabConfig))]
[JsonSerializable(typeof(LabReplica))]
[JsonSerializable(typeof(LabError))]
public sealed partial class LabJsonContext : JsonSerializerContext;
