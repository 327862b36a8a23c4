using System.Text.Encodings.Web;
using System.Text.Json;

namespace Pathfinder.Signaling.Protocol;

/// <summary>
/// Writes relayed messages exactly as <c>{"type","src","dst","payload"}</c> in that key order (§5.2, §11.5):
/// <c>src</c> is the sender's registered id, every other field of the original is dropped, <c>payload</c> is the
/// original JSON text byte for byte and is omitted when the original had none. The frame is written straight into an
/// array of its exact size: ids that follow the id rule (<see cref="PeerIdRules"/>, the common case) need no JSON
/// escaping and are copied as ASCII; any other string is escaped as JSON requires (non-ASCII kept as UTF-8).
/// </summary>
public static class RelayFrame
{
    private static readonly JavaScriptEncoder Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    public static byte[] Write(MessageType type, string src, string dst, ReadOnlySpan<byte> payload)
    {
        var typeName = type.WireName();
        var srcText = Encoded(src);
        var dstText = Encoded(dst);
        // {"type":"T","src":"S","dst":"D"[,"payload":P]}
        var length = "{\"type\":\""u8.Length + typeName.Length + "\",\"src\":\""u8.Length + Length(src, srcText)
            + "\",\"dst\":\""u8.Length + Length(dst, dstText) + "\""u8.Length
            + (payload.IsEmpty ? 0 : ",\"payload\":"u8.Length + payload.Length) + "}"u8.Length;
        var frame = new byte[length];
        var at = 0;
        Append(frame, ref at, "{\"type\":\""u8);
        Append(frame, ref at, typeName);
        Append(frame, ref at, "\",\"src\":\""u8);
        AppendText(frame, ref at, src, srcText);
        Append(frame, ref at, "\",\"dst\":\""u8);
        AppendText(frame, ref at, dst, dstText);
        Append(frame, ref at, "\""u8);
        if (!payload.IsEmpty)
        {
            Append(frame, ref at, ",\"payload\":"u8);
            Append(frame, ref at, payload);
        }

        Append(frame, ref at, "}"u8);
        return frame;
    }

    /// <summary>The LEAVE sent back to a sender whose message could not be delivered: src = the unreachable peer.</summary>
    public static byte[] Leave(string unreachable, string sender) => Write(MessageType.Leave, unreachable, sender, default);

    /// <summary>The EXPIRE sent to a sender whose queued messages expired: src = the offline destination, no payload.</summary>
    public static byte[] Expire(string offline, string sender) => Write(MessageType.Expire, offline, sender, default);

    // Null when the text is printable ASCII without '"' or '\' (copied as is), else its JSON-escaped UTF-8.
    private static JsonEncodedText? Encoded(string text)
    {
        foreach (var c in text)
        {
            if (c < 0x20 || c > 0x7E || c == '"' || c == '\\')
            {
                return JsonEncodedText.Encode(text, Encoder);
            }
        }

        return null;
    }

    private static int Length(string text, JsonEncodedText? encoded) => encoded?.EncodedUtf8Bytes.Length ?? text.Length;

    private static void AppendText(byte[] frame, ref int at, string text, JsonEncodedText? encoded)
    {
        if (encoded is { } escaped)
        {
            Append(frame, ref at, escaped.EncodedUtf8Bytes);
            return;
        }

        foreach (var c in text)
        {
            frame[at++] = (byte)c;
        }
    }

    private static void Append(byte[] frame, ref int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(frame.AsSpan(at));
        at += bytes.Length;
    }
}
