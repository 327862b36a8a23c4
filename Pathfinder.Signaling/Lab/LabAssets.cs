namespace Pathfinder.Signaling.Lab;

/// <summary>The lab's files, embedded in the assembly at build time (absent from a build with -p:PathfinderLab=false or on a machine without npm).</summary>
public static class LabAssets
{
    private const string Prefix = "Lab/";

    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.Ordinal)
    {
        ["lab.html"] = "text/html; charset=utf-8",
        ["lab.js"] = "text/javascript; charset=utf-8",
        ["service.js"] = "text/javascript; charset=utf-8",
        ["lab.css"] = "text/css; charset=utf-8",
        ["peerjs.min.js"] = "text/javascript; charset=utf-8",
    };

    /// <summary>Whether this build carries the lab: every file, the npm-built peerjs bundle included.</summary>
    public static bool Built { get; } = ContentTypes.Keys.All(name =>
        typeof(LabAssets).Assembly.GetManifestResourceInfo(Prefix + name) is not null);

    /// <summary>One of the lab's files, or null for any other name.</summary>
    public static (string ContentType, Func<Stream> Open)? Find(string name) =>
        ContentTypes.TryGetValue(name, out var contentType) && typeof(LabAssets).Assembly.GetManifestResourceInfo(Prefix + name) is not null
            ? (contentType, () => typeof(LabAssets).Assembly.GetManifestResourceStream(Prefix + name)!)
            : null;
}
