using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Pathfinder.Signaling.Protocol;

/// <summary>
/// Writes relayed messages exactly as <c>{"type","src","dst","payload"}</c> in that key order (§5.2, §11.5):
/// <c>src</c> is the sender's registered id, every other field of the original is dropped, <c>payload</c> is the
/// original JSON text byte for byte and is omitted when the original had none.
/// </summary>
public static class RelayFrame
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Keep non-ASCII ids as UTF-8 rather than \uXXXX; quotes, backslashes and controls are still escaped.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    public static byte[] Write(MessageType type, string src, string dst, ReadOnlySpan<byte> payload)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, type.WireName());
            writer.WriteString("src"u8, src);
            writer.WriteString("dst"u8, dst);
            if (!payload.IsEmpty)
            {
                writer.WritePropertyName("payload"u8);
                writer.WriteRawValue(payload, skipInputValidation: true);
            }

            writer.WriteEndObject();
        }

        var frame = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > 64 * 1024)
        {
            // Do not keep a large buffer per thread after an unusually large message.
            t_buffer = null;
        }

        return frame;
    }

    /// <summary>The LEAVE sent back to a sender whose message could not be delivered: src = the unreachable peer.</summary>
    public static byte[] Leave(string unreachable, string sender) => Write(MessageType.Leave, unreachable, sender, default);

    /// <summary>The EXPIRE sent to a sender whose queued messages expired: src = the offline destination, no payload.</summary>
    public static byte[] Expire(string offline, string sender) => Write(MessageType.Expire, offline, sender, default);
}
