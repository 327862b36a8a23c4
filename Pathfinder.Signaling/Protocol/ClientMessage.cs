using System.Text.Json;
using System.Text.Unicode;

namespace Pathfinder.Signaling.Protocol;

/// <summary>
/// One parsed client frame: its type, its destination and the raw bytes of its payload (a slice of the frame).
/// Only the fields the server uses are read; <c>src</c> and every other field are ignored (§5.1, §11.5).
/// </summary>
public readonly ref struct ClientMessage
{
    public ClientMessage(MessageType type, string? dst, ReadOnlySpan<byte> payload)
    {
        Type = type;
        Dst = dst;
        Payload = payload;
    }

    public MessageType Type { get; }

    /// <summary>The destination id, or null when absent, empty or not a string.</summary>
    public string? Dst { get; }

    /// <summary>The payload's JSON text exactly as sent; empty when the frame had no payload.</summary>
    public ReadOnlySpan<byte> Payload { get; }

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 128 };

    /// <summary>
    /// Parses a complete frame. Returns false when the frame is not valid UTF-8, not valid JSON, or not a JSON
    /// object: such a frame is dropped (and counted) and the connection stays usable — unlike the reference,
    /// whose socket goes deaf (§5.4, §12).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> frame, out ClientMessage message)
    {
        message = default;
        // Invalid UTF-8 relayed in a text frame would make the receiving browser fail its whole socket.
        if (!Utf8.IsValid(frame))
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(frame, ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            var type = MessageType.Ignored;
            string? dst = null;
            var payloadStart = -1;
            var payloadLength = 0;

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isType = reader.ValueTextEquals("type"u8);
                var isDst = !isType && reader.ValueTextEquals("dst"u8);
                var isPayload = !isType && !isDst && reader.ValueTextEquals("payload"u8);
                reader.Read();
                if (isType)
                {
                    type = reader.TokenType == JsonTokenType.String ? ParseType(ref reader) : MessageType.Ignored;
                }
                else if (isDst)
                {
                    dst = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (isPayload)
                {
                    payloadStart = (int)reader.TokenStartIndex;
                    reader.Skip();
                    payloadLength = (int)reader.BytesConsumed - payloadStart;
                }
                else
                {
                    reader.Skip();
                }
            }

            // JSON.parse rejects trailing content after the value; so do we.
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return false;
            }

            message = new ClientMessage(
                type,
                string.IsNullOrEmpty(dst) ? null : dst,
                payloadStart < 0 ? default : frame.Slice(payloadStart, payloadLength));
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static MessageType ParseType(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return MessageTypes.Parse(reader.ValueSpan);
        }

        Span<byte> buffer = stackalloc byte[64];
        if (reader.ValueSpan.Length > buffer.Length)
        {
            return MessageType.Ignored;
        }

        var written = reader.CopyString(buffer);
        return MessageTypes.Parse(buffer[..written]);
    }
}
