using System.Buffers;
using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Numerics;
using System.Text;
using System.Text.Unicode;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// Incremental reader of the frames a client sends (RFC 6455 §5, server side): unmasks, reassembles fragmented
/// messages, enforces the message size limit and the rules a server must check (masking, reserved bits, opcodes,
/// control frame size, fragmentation order, UTF-8 of text messages and close reasons). It consumes payload bytes as they
/// arrive, so a large message never has to sit whole in the socket's input buffer, and it holds a pooled buffer only
/// while a message is in flight (<see cref="ReleaseIdleBuffers"/>).
/// </summary>
public sealed class WebSocketFrameReader(int maxMessageBytes)
{
    private const int MaxHeaderBytes = 14;

    /// <summary>The largest control-frame payload (RFC 6455 §5.5).</summary>
    public const int MaxControlPayload = 125;

    private readonly int _maxMessageBytes = maxMessageBytes;

    // The frame being read.
    private bool _inFrame;
    private FrameOpcode _opcode;
    private bool _fin;
    private long _remaining;
    private uint _mask;
    private int _maskOffset;

    // The data message being assembled (possibly over several frames).
    private bool _inMessage;
    private bool _messageIsText;
    private bool _discarding;
    private byte[]? _message;
    private int _messageLength;
    private bool _messageDelivered;

    // The control frame being read (at most 125 bytes).
    private byte[]? _control;
    private int _controlLength;

    private bool _failed;

    // Once the connection is closing, data messages are skipped unread (no copy, no unmasking, no UTF-8 check).
    private bool _skipData;

    /// <summary>Payload bytes of data frames skipped since <see cref="SkipDataMessages"/>.</summary>
    public long SkippedBytes { get; private set; }

    /// <summary>
    /// From now on data messages are skipped, not assembled: nothing reads them any more (the connection is closing)
    /// and a client that keeps sending after the server's close frame should cost no more than reading its bytes.
    /// Control frames (the client's close, pings) are still read.
    /// </summary>
    public void SkipDataMessages()
    {
        _skipData = true;
        if (_inMessage && !_messageDelivered)
        {
            _discarding = true;
        }
    }

    /// <summary>
    /// Consumes bytes from <paramref name="buffer"/> (it is sliced past them) until one event is complete or the
    /// buffer is used up (<see cref="FrameEventKind.NeedMoreData"/>; at most an incomplete frame header is left in it).
    /// </summary>
    public FrameEvent Read(ref ReadOnlySequence<byte> buffer)
    {
        if (_messageDelivered)
        {
            _messageDelivered = false;
            _messageLength = 0;
            ReturnMessageBuffer();
        }

        while (!_failed)
        {
            if (!_inFrame)
            {
                var header = ReadHeader(ref buffer, out var error);
                if (error is { } protocolError)
                {
                    _failed = true;
                    ReturnMessageBuffer();
                    return protocolError;
                }

                if (!header)
                {
                    return new FrameEvent(FrameEventKind.NeedMoreData);
                }

                if (_opcode is FrameOpcode.Text or FrameOpcode.Binary or FrameOpcode.Continuation)
                {
                    if (_opcode != FrameOpcode.Continuation)
                    {
                        _inMessage = true;
                        _messageIsText = _opcode == FrameOpcode.Text;
                        _messageLength = 0;
                        _discarding = _skipData;
                    }

                    if (!_discarding && _messageLength + _remaining > _maxMessageBytes)
                    {
                        _discarding = true;
                        ReturnMessageBuffer();
                        return new FrameEvent(FrameEventKind.MessageTooBig, CloseStatus: WebSocketCloseStatus.MessageTooBig);
                    }

                    if (!_discarding)
                    {
                        EnsureMessageCapacity(_messageLength + (int)_remaining);
                    }
                }
                else
                {
                    _controlLength = 0;
                    if (_remaining > 0)
                    {
                        _control ??= new byte[MaxControlPayload];
                    }
                }
            }

            if (_remaining > 0)
            {
                if (buffer.IsEmpty)
                {
                    return new FrameEvent(FrameEventKind.NeedMoreData);
                }

                var take = (int)Math.Min(_remaining, buffer.Length);
                var chunk = buffer.Slice(0, take);
                if (_opcode >= FrameOpcode.Close)
                {
                    CopyUnmasked(chunk, _control.AsSpan(_controlLength, take));
                    _controlLength += take;
                }
                else if (!_discarding)
                {
                    CopyUnmasked(chunk, _message.AsSpan(_messageLength, take));
                    _messageLength += take;
                }
                else
                {
                    _maskOffset = (_maskOffset + take) & 3;
                    if (_skipData)
                    {
                        SkippedBytes += take;
                    }
                }

                buffer = buffer.Slice(take);
                _remaining -= take;
                if (_remaining > 0)
                {
                    return new FrameEvent(FrameEventKind.NeedMoreData);
                }
            }

            _inFrame = false;
            switch (_opcode)
            {
                case FrameOpcode.Ping:
                    return new FrameEvent(FrameEventKind.Ping, _control.AsMemory(0, _controlLength));
                case FrameOpcode.Pong:
                    return new FrameEvent(FrameEventKind.Pong);
                case FrameOpcode.Close:
                    return ReadClose();
            }

            if (!_fin)
            {
                continue;
            }

            _inMessage = false;
            if (_discarding)
            {
                _discarding = false;
                continue;
            }

            var payload = _message.AsMemory(0, _messageLength);
            if (_messageIsText && !Utf8.IsValid(payload.Span))
            {
                _failed = true;
                ReturnMessageBuffer();
                return new FrameEvent(FrameEventKind.ProtocolError, CloseStatus: WebSocketCloseStatus.InvalidPayloadData, Description: "Invalid UTF-8 in a text message");
            }

            _messageDelivered = true;
            return new FrameEvent(FrameEventKind.Message, payload, _messageIsText);
        }

        return new FrameEvent(FrameEventKind.NeedMoreData);
    }

    /// <summary>Gives pooled buffers back unless a message is in flight: call before waiting for more data.</summary>
    public void ReleaseIdleBuffers()
    {
        if (_messageDelivered || !_inMessage)
        {
            _messageDelivered = false;
            _messageLength = 0;
            ReturnMessageBuffer();
        }
    }

    private bool ReadHeader(ref ReadOnlySequence<byte> buffer, out FrameEvent? error)
    {
        error = null;
        if (buffer.Length < 2)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[MaxHeaderBytes];
        var available = (int)Math.Min(buffer.Length, MaxHeaderBytes);
        buffer.Slice(0, available).CopyTo(header);

        var lengthCode = header[1] & 0x7F;
        var headerLength = 2 + (lengthCode == 126 ? 2 : lengthCode == 127 ? 8 : 0) + ((header[1] & 0x80) != 0 ? 4 : 0);
        if (available < headerLength)
        {
            return false;
        }

        var fin = (header[0] & 0x80) != 0;
        var opcode = (FrameOpcode)(header[0] & 0x0F);
        if ((header[0] & 0x70) != 0)
        {
            error = Violation("Reserved bits set without a negotiated extension");
            return false;
        }

        if ((header[1] & 0x80) == 0)
        {
            error = Violation("Client frames must be masked");
            return false;
        }

        long length = lengthCode;
        var position = 2;
        if (lengthCode == 126)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
            position = 4;
        }
        else if (lengthCode == 127)
        {
            var wide = BinaryPrimitives.ReadUInt64BigEndian(header[2..]);
            if (wide > long.MaxValue)
            {
                error = Violation("Invalid payload length");
                return false;
            }

            length = (long)wide;
            position = 10;
        }

        switch (opcode)
        {
            case FrameOpcode.Close or FrameOpcode.Ping or FrameOpcode.Pong:
                if (!fin || length > MaxControlPayload)
                {
                    error = Violation("Control frames must be final and at most 125 bytes");
                    return false;
                }

                break;
            case FrameOpcode.Continuation when !_inMessage:
                error = Violation("Continuation frame without a message to continue");
                return false;
            case FrameOpcode.Text or FrameOpcode.Binary when _inMessage:
                error = Violation("New message before the previous one was finished");
                return false;
            case FrameOpcode.Continuation or FrameOpcode.Text or FrameOpcode.Binary:
                break;
            default:
                error = Violation("Unknown opcode");
                return false;
        }

        _mask = BinaryPrimitives.ReadUInt32LittleEndian(header[position..]);
        _maskOffset = 0;
        _opcode = opcode;
        _fin = fin;
        _remaining = length;
        _inFrame = true;
        buffer = buffer.Slice(headerLength);
        return true;
    }

    private FrameEvent ReadClose()
    {
        if (_controlLength == 0)
        {
            return new FrameEvent(FrameEventKind.Close, CloseStatus: WebSocketCloseStatus.Empty);
        }

        var payload = _control.AsSpan(0, _controlLength);
        var code = payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload) : 0;
        if (payload.Length == 1 || !IsValidCloseCode(code))
        {
            _failed = true;
            return Violation("Invalid close status code");
        }

        if (!Utf8.IsValid(payload[2..]))
        {
            _failed = true;
            return new FrameEvent(FrameEventKind.ProtocolError, CloseStatus: WebSocketCloseStatus.InvalidPayloadData, Description: "Invalid UTF-8 in a close reason");
        }

        return new FrameEvent(FrameEventKind.Close, CloseStatus: (WebSocketCloseStatus)code, Description: Encoding.UTF8.GetString(payload[2..]));
    }

    // RFC 6455 §7.4: 1000-1003, 1007-1011 and 3000-4999 may appear on the wire; 1004-1006 and 1015 may not.
    private static bool IsValidCloseCode(int code) =>
        code is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999);

    private static FrameEvent Violation(string description) =>
        new(FrameEventKind.ProtocolError, CloseStatus: WebSocketCloseStatus.ProtocolError, Description: description);

    private void EnsureMessageCapacity(int needed)
    {
        if (_message is null)
        {
            _message = ArrayPool<byte>.Shared.Rent(Math.Max(needed, 256));
            return;
        }

        if (_message.Length >= needed)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(Math.Max(needed, _message.Length * 2), _maxMessageBytes));
        _message.AsSpan(0, _messageLength).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_message);
        _message = larger;
    }

    private void ReturnMessageBuffer()
    {
        if (_message is not null)
        {
            ArrayPool<byte>.Shared.Return(_message);
            _message = null;
        }
    }

    private void CopyUnmasked(ReadOnlySequence<byte> source, Span<byte> destination)
    {
        source.CopyTo(destination);
        _maskOffset = Unmask(destination, _mask, _maskOffset);
    }

    /// <summary>XORs <paramref name="data"/> with the mask, starting at mask byte <paramref name="offset"/>; returns the next offset.</summary>
    public static int Unmask(Span<byte> data, uint mask, int offset)
    {
        // The mask as it applies from this offset, little-endian, widened to 8 bytes.
        var rotated = BitOperations.RotateRight(mask, 8 * offset);
        var wide = rotated | ((ulong)rotated << 32);
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            var slot = data.Slice(i, 8);
            BinaryPrimitives.WriteUInt64LittleEndian(slot, BinaryPrimitives.ReadUInt64LittleEndian(slot) ^ wide);
        }

        for (; i < data.Length; i++)
        {
            data[i] ^= (byte)(rotated >> (8 * (i & 3)));
        }

        return (offset + data.Length) & 3;
    }
}
