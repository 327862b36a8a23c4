using System.Text.Json.Serialization;

namespace Pathfinder.Signaling.Protocol;

/// <summary>The document served at <c>GET {path}</c>, identical to the reference's app.json (§3).</summary>
public sealed record ServerInfo(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string Description,
    [property: JsonPropertyName("website")] string Website)
{
    public static ServerInfo PeerJs { get; } = new(
        "PeerJS Server",
        "A server side element to broker connections between PeerJS clients.",
        "https://peerjs.com/");
}

[JsonSerializable(typeof(ServerInfo))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSourceGenerationOptions(WriteIndented = false)]
public sealed partial class ProtocolJsonContext : JsonSerializerContext;
