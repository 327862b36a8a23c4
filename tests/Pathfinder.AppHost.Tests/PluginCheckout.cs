namespace Pathfinder.AppHost.Tests;

/// <summary>A throw-away folder shaped like a grafana-pathfinder-app checkout (package.json, src/plugin.json).</summary>
public sealed class PluginCheckout : IDisposable
{
    public PluginCheckout(bool backend = true)
    {
        Directory.CreateDirectory(Path.Combine(Root, "src"));
        File.WriteAllText(Path.Combine(Root, "package.json"), """{"name":"grafana-pathfinder-app","scripts":{"dev":"webpack -w"}}""");
        File.WriteAllText(
            Path.Combine(Root, "src", "plugin.json"),
            $$"""{"type":"app","id":"grafana-pathfinder-app","backend":{{(backend ? "true" : "false")}},"executable":"gpx_grafana-pathfinder-app"}""");
    }

    public string Root { get; } = Directory.CreateTempSubdirectory("pathfinder-plugin-").FullName;

    public string Dist => Path.Combine(Root, "dist");

    /// <summary>Writes a file into the checkout (e.g. ".nvmrc", "go.mod").</summary>
    public void Write(string relativePath, string text) => File.WriteAllText(Path.Combine(Root, relativePath), text);

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
