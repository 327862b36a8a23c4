namespace Pathfinder.Signaling.Protocol;

/// <summary>
/// The exact frames the server sends on its own behalf (PEERJS-PROTOCOL.md §4.2, §4.3). The texts are part of the
/// wire contract: the peerjs client shows them to users and tests compare them byte for byte.
/// </summary>
public static class ServerMessages
{
    public const string NoIdTokenOrKeyText = "No id, token, or key supplied to websocket server";
    public const string InvalidKeyText = "Invalid key provided";
    public const string ConcurrentLimitText = "Server has reached its concurrent user limit";
    public const string IdTakenText = "ID is taken";
    public const string RelayRateExceededText = "Relay rate exceeded: messages are dropped until you slow down";
    public const string RegistrationUnavailableText = "Server cannot register IDs right now, please retry";

    /// <summary>The reference's Errors.INVALID_TOKEN text (defined there, never sent): a token outside the token rule (<see cref="PeerIdRules"/>).</summary>
    public const string InvalidTokenText = "Invalid token provided";

    /// <summary>With signed tokens on: a token signed for this id whose expiry has passed (mint a new one).</summary>
    public const string TokenExpiredText = "Token expired";

    /// <summary>To a socket whose id a newer connection took over (same token, or a valid signed token), before its close.</summary>
    public const string TakenOverText = "ID taken over by a newer connection";

    // Declared first: static initializers run in order. The texts are the server's own: only what JSON requires is escaped (quotes stay readable in the frame).
    private static readonly System.Text.Json.JsonWriterOptions RelaxedEscaping =
        new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static ReadOnlyMemory<byte> Open { get; } = """{"type":"OPEN"}"""u8.ToArray();

    public static ReadOnlyMemory<byte> NoIdTokenOrKey { get; } =
        """{"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}}"""u8.ToArray();

    public static ReadOnlyMemory<byte> InvalidKey { get; } =
        """{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"""u8.ToArray();

    public static ReadOnlyMemory<byte> ConcurrentLimit { get; } =
        """{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}"""u8.ToArray();

    /// <summary>A claim the backplane could not decide (Redis slow or down): refused, the client may retry.</summary>
    public static ReadOnlyMemory<byte> RegistrationUnavailable { get; } = Error(RegistrationUnavailableText);

    public static ReadOnlyMemory<byte> InvalidToken { get; } = Error(InvalidTokenText);

    public static ReadOnlyMemory<byte> TokenExpired { get; } = Error(TokenExpiredText);

    public static ReadOnlyMemory<byte> TakenOver { get; } = Error(TakenOverText);

    public static ReadOnlyMemory<byte> IdTaken { get; } =
        """{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"""u8.ToArray();

    /// <summary>To a sender over its relay rate, once per streak of refused messages (they are dropped).</summary>
    public static ReadOnlyMemory<byte> RelayRateExceeded { get; } = Error(RelayRateExceededText);

    /// <summary><c>{"type":"ERROR","payload":{"msg":text}}</c>, the text JSON-escaped.</summary>
    public static byte[] Error(string text)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(64 + text.Length);
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer, RelaxedEscaping))
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "ERROR"u8);
            json.WriteStartObject("payload"u8);
            json.WriteString("msg"u8, text);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
