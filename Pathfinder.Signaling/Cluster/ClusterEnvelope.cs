using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Pathfinder.Signaling.Protocol;

namespace Pathfinder.Signaling.Cluster;

/// <summary>What a replica asks of the replica that owns a peer.</summary>
public enum EnvelopeKind : byte
{
    /// <summary>Deliver <see cref="ClusterEnvelope.Frame"/> to the local peer <see cref="ClusterEnvelope.Dst"/>.</summary>
    Deliver = 1,

    /// <summary>Close the local connection <see cref="ClusterEnvelope.ConnectionId"/> of <see cref="ClusterEnvelope.Dst"/>: its owner took over elsewhere.</summary>
    Close = 2,
}

/// <summary>
/// The cross-replica message published on a replica's channel. Version 1 wire format (integers little-endian):
/// <code>
/// offset size  field
/// 0      1     version (1)
/// 1      1     kind (EnvelopeKind)
/// 2      1     hop: 0 = first publish; 1 = re-routed once by a replica that no longer had the peer
/// 3      1     message type (MessageType) of the relayed frame
/// 4      8     sent at: unix time in microseconds when the sender's replica published (relay latency, measured)
/// 12     8     connection id (Close: the superseded connection; Deliver: 0)
/// 20     2+n   dst  (uint16 length + UTF-8)
/// ..     2+n   src  (uint16 length + UTF-8)
/// ..     2+n   traceparent (W3C, empty when none)
/// ..     4+n   frame (int32 length + the exact client frame, Deliver only)
/// </code>
/// Rules: fields are only ever appended after the frame; a reader ignores bytes it does not know; a reader drops
/// an envelope whose version byte is newer than it understands only if the layout above changed (never, so far).
/// One small envelope per relay keeps Redis' pub/sub output buffers small. Relays are published in bundles (see
/// <see cref="TryWriteFramed"/>): every message a route script call sends to one replica goes out as one pub/sub message.
/// </summary>
public readonly record struct ClusterEnvelope(
    EnvelopeKind Kind,
    byte Hop,
    MessageType Type,
    long SentAtMicroseconds,
    long ConnectionId,
    string Dst,
    string Src,
    string TraceParent,
    ReadOnlyMemory<byte> Frame)
{
    public const byte Version = 1;
    private const int FixedHeader = 20;

    /// <summary>The first byte of a bundle: several framed envelopes published together (an envelope starts with its version, ≥ 1).</summary>
    public const byte BundleMarker = 0;

    /// <summary>Bytes in front of each envelope in a bundle: its length (int32, little-endian).</summary>
    public const int FramePrefix = 4;

    /// <summary>Longest dst, src or traceparent an envelope carries, in UTF-8 bytes (its uint16 length prefix).</summary>
    public const int MaxFieldBytes = ushort.MaxValue;

    /// <summary>
    /// The envelope alone: what a single publish (Close) carries and what an offline queue entry holds. Never throws:
    /// false (and no envelope) when a field is longer than <see cref="MaxFieldBytes"/>; the caller refuses the message.
    /// </summary>
    public bool TryWrite([NotNullWhen(true)] out byte[]? envelope)
    {
        envelope = Write(reserve: 0);
        return envelope is not null;
    }

    /// <summary>
    /// The envelope behind its int32 length, ready to be appended to a bundle (<c>[0][len][envelope][len][envelope]…</c>);
    /// the route script concatenates these, and stores <c>framed[4..]</c> (the bare envelope) in an offline queue.
    /// Never throws: false (and nothing written) when a field is longer than <see cref="MaxFieldBytes"/>.
    /// </summary>
    public bool TryWriteFramed([NotNullWhen(true)] out byte[]? framed)
    {
        framed = Write(reserve: FramePrefix);
        if (framed is null)
        {
            return false;
        }

        BinaryPrimitives.WriteInt32LittleEndian(framed, framed.Length - FramePrefix);
        return true;
    }

    /// <summary>
    /// Calls <paramref name="onEnvelope"/> for every envelope in a published payload: a bundle (first byte
    /// <see cref="BundleMarker"/>) or one bare envelope. Returns false at the first malformed part (the rest is skipped).
    /// </summary>
    public static bool ForEach<TState>(ReadOnlyMemory<byte> payload, TState state, Action<TState, ReadOnlyMemory<byte>> onEnvelope)
    {
        var span = payload.Span;
        if (span.IsEmpty)
        {
            return false;
        }

        if (span[0] != BundleMarker)
        {
            onEnvelope(state, payload);
            return true;
        }

        var offset = 1;
        while (offset < span.Length)
        {
            if (span.Length - offset < FramePrefix)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadInt32LittleEndian(span[offset..]);
            offset += FramePrefix;
            if (length <= 0 || length > span.Length - offset)
            {
                return false;
            }

            onEnvelope(state, payload.Slice(offset, length));
            offset += length;
        }

        return true;
    }

    private byte[]? Write(int reserve)
    {
        // Counted without encoding; a string longer than the field in chars is too long in bytes too (≥ 1 byte each).
        if ((Dst?.Length ?? 0) > MaxFieldBytes || (Src?.Length ?? 0) > MaxFieldBytes || (TraceParent?.Length ?? 0) > MaxFieldBytes)
        {
            return null;
        }

        var dst = Encoding.UTF8.GetByteCount(Dst ?? string.Empty);
        var src = Encoding.UTF8.GetByteCount(Src ?? string.Empty);
        var trace = Encoding.UTF8.GetByteCount(TraceParent ?? string.Empty);
        if (dst > MaxFieldBytes || src > MaxFieldBytes || trace > MaxFieldBytes)
        {
            return null;
        }

        var buffer = new byte[reserve + FixedHeader + 2 + dst + 2 + src + 2 + trace + 4 + Frame.Length];
        var span = buffer.AsSpan(reserve);
        span[0] = Version;
        span[1] = (byte)Kind;
        span[2] = Hop;
        span[3] = (byte)Type;
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], SentAtMicroseconds);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], ConnectionId);
        var offset = FixedHeader;
        offset += WriteString(span[offset..], Dst ?? string.Empty, dst);
        offset += WriteString(span[offset..], Src ?? string.Empty, src);
        offset += WriteString(span[offset..], TraceParent ?? string.Empty, trace);
        BinaryPrimitives.WriteInt32LittleEndian(span[offset..], Frame.Length);
        Frame.Span.CopyTo(span[(offset + 4)..]);
        return buffer;
    }

    public static bool TryRead(ReadOnlyMemory<byte> data, out ClusterEnvelope envelope)
    {
        envelope = default;
        var span = data.Span;
        if (span.Length < FixedHeader || span[0] < 1)
        {
            return false;
        }

        try
        {
            var offset = FixedHeader;
            var dst = ReadString(span, ref offset);
            var src = ReadString(span, ref offset);
            var trace = ReadString(span, ref offset);
            var frameLength = BinaryPrimitives.ReadInt32LittleEndian(span[offset..]);
            offset += 4;
            if (frameLength < 0 || offset + frameLength > span.Length)
            {
                return false;
            }

            envelope = new ClusterEnvelope(
                (EnvelopeKind)span[1],
                span[2],
                (MessageType)span[3],
                BinaryPrimitives.ReadInt64LittleEndian(span[4..]),
                BinaryPrimitives.ReadInt64LittleEndian(span[12..]),
                dst,
                src,
                trace,
                data.Slice(offset, frameLength));
            return true;
        }
        catch (ArgumentOutOfRangeException)
        {
            return false;
        }
    }

    private static int WriteString(Span<byte> span, string value, int length)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)length);
        Encoding.UTF8.GetBytes(value, span[2..]);
        return 2 + length;
    }

    private static string ReadString(ReadOnlySpan<byte> span, ref int offset)
    {
        var length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
        var value = Encoding.UTF8.GetString(span.Slice(offset + 2, length));
        offset += 2 + length;
        return value;
    }
}
