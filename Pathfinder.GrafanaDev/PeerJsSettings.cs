namespace Pathfinder.GrafanaDev;

/// <summary>
/// Where a browser running the Pathfinder plugin reaches the signaling service, in the plugin's own terms
/// (<c>peerjsHost</c>, <c>peerjsPort</c>, <c>peerjsKey</c>, <c>peerjsSecure</c>). The path is the plugin's fixed
/// <c>/pathfinder</c>.
/// </summary>
public sealed record PeerJsSettings(string Host, int Port, string Key, bool Secure)
{
    /// <summary>The plugin's defaults, which the AppHost serves: http://localhost:9000/pathfinder, key "pathfinder".</summary>
    public static PeerJsSettings LocalDefault { get; } = new("localhost", 9000, "pathfinder", Secure: false);

    /// <summary>The PeerJS API root, e.g. http://localhost:9000/pathfinder.</summary>
    public Uri ApiUri => new($"{(Secure ? "https" : "http")}://{Host}:{Port}/pathfinder");
}
