namespace Pathfinder.Signaling.Protocol;

/// <summary>The PeerJS message types a client may send (PEERJS-PROTOCOL.md §4.3, §5.1).</summary>
public enum MessageType : byte
{
    /// <summary>Any other type (unknown, lower-case, missing, server-only types): ignored.</summary>
    Ignored = 0,
    Heartbeat,
    Offer,
    Answer,
    Candidate,
    Leave,
    Expire,
}

public static class MessageTypes
{
    /// <summary>OFFER, ANSWER and CANDIDATE are queued for an offline destination; LEAVE and EXPIRE are not.</summary>
    public static bool IsQueueable(this MessageType type) =>
        type is MessageType.Offer or MessageType.Answer or MessageType.Candidate;

    public static bool IsRelayed(this MessageType type) =>
        type is MessageType.Offer or MessageType.Answer or MessageType.Candidate or MessageType.Leave or MessageType.Expire;

    /// <summary>The exact wire spelling, as UTF-8.</summary>
    public static ReadOnlySpan<byte> WireName(this MessageType type) => type switch
    {
        MessageType.Heartbeat => "HEARTBEAT"u8,
        MessageType.Offer => "OFFER"u8,
        MessageType.Answer => "ANSWER"u8,
        MessageType.Candidate => "CANDIDATE"u8,
        MessageType.Leave => "LEAVE"u8,
        MessageType.Expire => "EXPIRE"u8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a wire message type"),
    };

    /// <summary>The wire spelling as a string (for logs and traces).</summary>
    public static string Name(this MessageType type) => type switch
    {
        MessageType.Heartbeat => "HEARTBEAT",
        MessageType.Offer => "OFFER",
        MessageType.Answer => "ANSWER",
        MessageType.Candidate => "CANDIDATE",
        MessageType.Leave => "LEAVE",
        MessageType.Expire => "EXPIRE",
        _ => "other",
    };

    /// <summary>Case-sensitive match of a JSON string's raw (unescaped) bytes to a type.</summary>
    public static MessageType Parse(ReadOnlySpan<byte> name)
    {
        if (name.SequenceEqual("HEARTBEAT"u8)) { return MessageType.Heartbeat; }
        if (name.SequenceEqual("CANDIDATE"u8)) { return MessageType.Candidate; }
        if (name.SequenceEqual("OFFER"u8)) { return MessageType.Offer; }
        if (name.SequenceEqual("ANSWER"u8)) { return MessageType.Answer; }
        if (name.SequenceEqual("LEAVE"u8)) { return MessageType.Leave; }
        if (name.SequenceEqual("EXPIRE"u8)) { return MessageType.Expire; }
        return MessageType.Ignored;
    }
}
