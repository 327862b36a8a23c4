using System.Buffers;
using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text.Unicode;

namespace Pathfinder.Signaling.Transport;

/// <summary>Writes the frames a server sends: final, unmasked (RFC 6455 §5.2).</summary>
public static class WebSocketFrameWriter
{
    public static void Write(IBufferWriter<byte> output, FrameOpcode opcode, ReadOnlySpan<byte> payload)
    {
        var headerLength = payload.Length < 126 ? 2 : payload.Length <= ushort.MaxValue ? 4 : 10;
        if (payload.Length <= 16 * 1024)
        {
            var span = output.GetSpan(headerLength + payload.Length);
            WriteHeader(span, opcode, payload.Length);
            payload.CopyTo(span[headerLength..]);
            output.Advance(headerLength + payload.Length);
            return;
        }

        WriteHeader(output.GetSpan(headerLength), opcode, payload.Length);
        output.Advance(headerLength);
        output.Write(payload);
    }

    /// <summary>A close frame with a status code and an optional reason (truncated to fit 123 bytes of UTF-8).</summary>
    public static void WriteClose(IBufferWriter<byte> output, WebSocketCloseStatus status, string? description)
    {
        Span<byte> payload = stackalloc byte[125];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)status);
        var length = 2;
        if (!string.IsNullOrEmpty(description))
        {
            Utf8.FromUtf16(description, payload[2..], out _, out var written, replaceInvalidSequences: true, isFinalBlock: true);
            length += written;
        }

        Write(output, FrameOpcode.Close, payload[..length]);
    }

    private static void WriteHeader(Span<byte> span, FrameOpcode opcode, int length)
    {
        span[0] = (byte)(0x80 | (byte)opcode);
        if (length < 126)
        {
            span[1] = (byte)length;
        }
        else if (length <= ushort.MaxValue)
        {
            span[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(span[2..], (ushort)length);
        }
        else
        {
            span[1] = 127;
            BinaryPrimitives.WriteUInt64BigEndian(span[2..], (ulong)length);
        }
    }
}
