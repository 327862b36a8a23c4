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

    public static ReadOnlyMemory<byte> Open { get; } = """{"type":"OPEN"}"""u8.ToArray();

    public static ReadOnlyMemory<byte> NoIdTokenOrKey { get; } =
        """{"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}}"""u8.ToArray();

    public static ReadOnlyMemory<byte> InvalidKey { get; } =
        """{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"""u8.ToArray();

    public static ReadOnlyMemory<byte> ConcurrentLimit { get; } =
        """{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}"""u8.ToArray();

    /// <summary>A claim the backplane could not decide (Redis slow or down): refused, the client may retry.</summary>
    public static ReadOnlyMemory<byte> RegistrationUnavailable { get; } =
        """{"type":"ERROR","payload":{"msg":"Server cannot register IDs right now, please retry"}}"""u8.ToArray();

    public static ReadOnlyMemory<byte> IdTaken { get; } =
        """{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"""u8.ToArray();

    /// <summary>To a sender over its relay rate, once per streak of refused messages (they are dropped).</summary>
    public static ReadOnlyMemory<byte> RelayRateExceeded { get; } =
        """{"type":"ERROR","payload":{"msg":"Relay rate exceeded: messages are dropped until you slow down"}}"""u8.ToArray();
}
