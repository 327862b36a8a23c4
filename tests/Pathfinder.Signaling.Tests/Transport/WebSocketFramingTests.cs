using System.Buffers;
using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling.Tests;

/// <summary>The frames a client sends (RFC 6455 §5.2), built by hand: masked unless told otherwise.</summary>
internal static class ClientFrames
{
    public static readonly byte[] DefaultMask = [0x37, 0xFA, 0x21, 0x3D];

    /// <summary>A frame with FIN, reserved bits and opcode as given; the shortest length encoding for the payload.</summary>
    public static byte[] Frame(
        FrameOpcode opcode, ReadOnlySpan<byte> payload, bool fin = true, bool masked = true, byte reserved = 0, byte[]? mask = null) =>
        Raw((byte)((fin ? 0x80 : 0) | reserved | (byte)opcode), payload, masked, mask);

    /// <summary>A frame whose first byte (FIN, RSV1-3, opcode) is given as is.</summary>
    public static byte[] Raw(byte first, ReadOnlySpan<byte> payload, bool masked = true, byte[]? mask = null)
    {
        mask ??= DefaultMask;
        var maskBit = masked ? 0x80 : 0;
        var header = new List<byte> { first };
        if (payload.Length < 126)
        {
            header.Add((byte)(maskBit | payload.Length));
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            header.Add((byte)(maskBit | 126));
            header.Add((byte)(payload.Length >> 8));
            header.Add((byte)payload.Length);
        }
        else
        {
            header.Add((byte)(maskBit | 127));
            var length = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(length, (ulong)payload.Length);
            header.AddRange(length);
        }

        if (masked)
        {
            header.AddRange(mask);
        }

        var frame = new byte[header.Count + payload.Length];
        header.CopyTo(frame);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[header.Count + i] = masked ? (byte)(payload[i] ^ mask[i & 3]) : payload[i];
        }

        return frame;
    }

    public static byte[] Text(string text, bool fin = true, byte[]? mask = null) =>
        Frame(FrameOpcode.Text, Encoding.UTF8.GetBytes(text), fin, mask: mask);

    public static byte[] Continuation(string text, bool fin, byte[]? mask = null) =>
        Frame(FrameOpcode.Continuation, Encoding.UTF8.GetBytes(text), fin, mask: mask);

    public static byte[] Ping(string payload, byte[]? mask = null) => Frame(FrameOpcode.Ping, Encoding.UTF8.GetBytes(payload), mask: mask);

    public static byte[] Close(ushort code, string reason = "", byte[]? mask = null) => Frame(FrameOpcode.Close, ClosePayload(code, reason), mask: mask);

    public static byte[] ClosePayload(ushort code, string reason = "")
    {
        var reasonBytes = Encoding.UTF8.GetBytes(reason);
        var payload = new byte[2 + reasonBytes.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, code);
        reasonBytes.CopyTo(payload, 2);
        return payload;
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(part => part).ToArray();
}

/// <summary>
/// <see cref="WebSocketFrameReader"/> and <see cref="WebSocketFrameWriter"/> against hand-built bytes: every rule a
/// server must check (RFC 6455 §5, §7.4, §8.1), whatever way the bytes are cut up on arrival.
/// </summary>
public sealed class WebSocketFramingTests
{
    private const int Limit = 1 << 20;

    private static readonly byte[] OtherMask = [0x00, 0xFF, 0x80, 0x01];

    // How the bytes arrive: every chunk size (1 = one byte per read), as one buffer per read (what is left over is
    // handed back with the next read, as a pipe does) or as one buffer made of many segments.
    public static TheoryData<int, bool> Arrivals()
    {
        var data = new TheoryData<int, bool>();
        foreach (var chunk in new[] { 1, 2, 3, 5, 13, 64, int.MaxValue })
        {
            data.Add(chunk, false);
            data.Add(chunk, true);
        }

        return data;
    }

    /// <summary>Renders an event (its payload copied: it is only valid until the next call).</summary>
    private static string Render(FrameEvent e) => e.Kind switch
    {
        FrameEventKind.Message => $"{(e.IsText ? "Text" : "Binary")} {Convert.ToHexString(e.Payload.Span)}",
        FrameEventKind.Ping => $"Ping {Convert.ToHexString(e.Payload.Span)}",
        FrameEventKind.Pong => "Pong",
        FrameEventKind.Close or FrameEventKind.ProtocolError or FrameEventKind.MessageTooBig => $"{e.Kind} {(int)e.CloseStatus} {e.Description}",
        _ => e.Kind.ToString(),
    };

    private static string TextEvent(string text) => $"Text {Convert.ToHexString(Encoding.UTF8.GetBytes(text))}";

    private static string BinaryEvent(params byte[] payload) => $"Binary {Convert.ToHexString(payload)}";

    private static string PingEvent(string payload) => $"Ping {Convert.ToHexString(Encoding.UTF8.GetBytes(payload))}";

    private static string CloseEvent(WebSocketCloseStatus status, string? description) => $"Close {(int)status} {description}";

    /// <summary>Reads events until the reader needs more data.</summary>
    private static void Drain(WebSocketFrameReader reader, ref ReadOnlySequence<byte> buffer, List<string> events)
    {
        for (var guard = 0; guard < 10_000; guard++)
        {
            var next = reader.Read(ref buffer);
            if (next.Kind == FrameEventKind.NeedMoreData)
            {
                return;
            }

            events.Add(Render(next));
        }

        Assert.Fail("the reader never asked for more data");
    }

    /// <summary>
    /// Feeds <paramref name="wire"/> to a new reader, <paramref name="chunk"/> bytes at a time; returns the events and
    /// how many bytes were left unconsumed at the end.
    /// </summary>
    private static (List<string> Events, long Left) Feed(byte[] wire, int chunk, bool segmented, int maxMessageBytes = Limit)
    {
        var reader = new WebSocketFrameReader(maxMessageBytes);
        var events = new List<string>();
        if (segmented)
        {
            var buffer = ByteSequences.Split(wire, chunk);
            Drain(reader, ref buffer, events);
            return (events, buffer.Length);
        }

        var pending = Array.Empty<byte>();
        for (var offset = 0; offset < wire.Length; offset += Math.Min(chunk, wire.Length - offset))
        {
            // As the connection does before every socket read.
            reader.ReleaseIdleBuffers();
            var received = ClientFrames.Concat(pending, wire.AsSpan(offset, Math.Min(chunk, wire.Length - offset)).ToArray());
            var buffer = new ReadOnlySequence<byte>(received);
            Drain(reader, ref buffer, events);
            pending = buffer.ToArray();
        }

        return (events, pending.Length);
    }

    private static List<string> FeedAll(byte[] wire, int chunk, bool segmented, int maxMessageBytes = Limit)
    {
        var (events, left) = Feed(wire, chunk, segmented, maxMessageBytes);
        Assert.Equal(0, left);
        return events;
    }

    private static FrameEvent ReadOne(byte[] wire, int maxMessageBytes = Limit)
    {
        var reader = new WebSocketFrameReader(maxMessageBytes);
        var buffer = new ReadOnlySequence<byte>(wire);
        return reader.Read(ref buffer);
    }

    private static void AssertProtocolError(byte[] wire, WebSocketCloseStatus expected = WebSocketCloseStatus.ProtocolError)
    {
        var reader = new WebSocketFrameReader(Limit);
        var buffer = new ReadOnlySequence<byte>(wire);
        var events = new List<string>();
        Drain(reader, ref buffer, events);
        Assert.NotEmpty(events);
        Assert.StartsWith($"ProtocolError {(int)expected} ", events[^1], StringComparison.Ordinal);

        // The reader stops reading frames after a protocol error, even when valid frames follow.
        var more = new ReadOnlySequence<byte>(ClientFrames.Text("after"));
        Assert.Equal(FrameEventKind.NeedMoreData, reader.Read(ref more).Kind);
    }

    [Fact]
    public void Once_told_to_skip_data_messages_the_reader_counts_them_and_still_reads_control_frames()
    {
        var reader = new WebSocketFrameReader(Limit);
        var events = new List<string>();
        // A fragmented message is in flight when the connection starts closing: its rest is skipped too.
        var first = new ReadOnlySequence<byte>(ClientFrames.Text("delivered"));
        Drain(reader, ref first, events);
        var head = new ReadOnlySequence<byte>(ClientFrames.Text("half", fin: false));
        Drain(reader, ref head, events);

        reader.SkipDataMessages();
        var rest = new ReadOnlySequence<byte>(ClientFrames.Concat(
            ClientFrames.Continuation("-way", fin: true),
            ClientFrames.Text(new string('x', 300)),
            ClientFrames.Ping("p"),
            ClientFrames.Frame(FrameOpcode.Binary, new byte[70_000]),
            ClientFrames.Close(1000, "bye")));
        Drain(reader, ref rest, events);

        Assert.Equal([TextEvent("delivered"), PingEvent("p"), CloseEvent(WebSocketCloseStatus.NormalClosure, "bye")], events);
        Assert.Equal(4 + 300 + 70_000, reader.SkippedBytes);
    }

    [Fact]
    public void A_masked_text_message_is_unmasked()
    {
        var reader = new WebSocketFrameReader(Limit);
        var buffer = new ReadOnlySequence<byte>(ClientFrames.Text("Hello, PeerJS ✓"));

        var message = reader.Read(ref buffer);

        Assert.Equal(FrameEventKind.Message, message.Kind);
        Assert.True(message.IsText);
        Assert.Equal("Hello, PeerJS ✓", Encoding.UTF8.GetString(message.Payload.Span));
        Assert.True(buffer.IsEmpty);
        Assert.Equal(FrameEventKind.NeedMoreData, reader.Read(ref buffer).Kind);
    }

    [Fact]
    public void The_rfc_sample_masked_hello_is_read()
    {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        byte[] wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        var message = ReadOne(wire);
        Assert.Equal((FrameEventKind.Message, true, "Hello"), (message.Kind, message.IsText, Encoding.UTF8.GetString(message.Payload.Span)));
    }

    [Fact]
    public void An_incomplete_header_is_left_in_the_buffer()
    {
        var wire = ClientFrames.Frame(FrameOpcode.Binary, new byte[300]);
        for (var length = 0; length < 8; length++)
        {
            var reader = new WebSocketFrameReader(Limit);
            var buffer = new ReadOnlySequence<byte>(wire.AsMemory(0, length));
            Assert.Equal(FrameEventKind.NeedMoreData, reader.Read(ref buffer).Kind);
            Assert.Equal(length, buffer.Length);
        }
    }

    [Theory]
    [MemberData(nameof(Arrivals))]
    public void A_conversation_reads_the_same_however_its_bytes_arrive(int chunk, bool segmented)
    {
        var longText = string.Concat(Enumerable.Repeat("ü€", 100)); // 500 bytes: 16-bit length, multi-byte characters cut anywhere
        var wire = ClientFrames.Concat(
            ClientFrames.Text("hello"),
            ClientFrames.Frame(FrameOpcode.Binary, [0x00, 0x01, 0x02, 0xFF], mask: OtherMask),
            ClientFrames.Ping("p1"),
            ClientFrames.Text("frag", fin: false, mask: OtherMask),
            ClientFrames.Ping("p2"),
            ClientFrames.Continuation("men", fin: false),
            ClientFrames.Frame(FrameOpcode.Pong, "x"u8),
            ClientFrames.Continuation("ted", fin: true, mask: OtherMask),
            ClientFrames.Text(longText),
            ClientFrames.Text(string.Empty),
            ClientFrames.Frame(FrameOpcode.Ping, []),
            ClientFrames.Close(1000, "done"));

        var events = FeedAll(wire, chunk, segmented);

        Assert.Equal(
            [
                TextEvent("hello"),
                BinaryEvent(0x00, 0x01, 0x02, 0xFF),
                PingEvent("p1"),
                PingEvent("p2"),
                "Pong",
                TextEvent("fragmented"),
                TextEvent(longText),
                TextEvent(string.Empty),
                PingEvent(string.Empty),
                CloseEvent(WebSocketCloseStatus.NormalClosure, "done"),
            ],
            events);
    }

    [Theory]
    [MemberData(nameof(Arrivals))]
    public void A_fragmented_message_with_an_interleaved_ping_is_reassembled(int chunk, bool segmented)
    {
        var wire = ClientFrames.Concat(
            ClientFrames.Text("Hel", fin: false),
            ClientFrames.Ping("are you there?", mask: OtherMask),
            ClientFrames.Continuation("lo ", fin: false),
            ClientFrames.Continuation(string.Empty, fin: false, mask: OtherMask),
            ClientFrames.Continuation("world", fin: true),
            ClientFrames.Frame(FrameOpcode.Binary, [1, 2], fin: false),
            ClientFrames.Frame(FrameOpcode.Continuation, [3], fin: true));

        Assert.Equal([PingEvent("are you there?"), TextEvent("Hello world"), BinaryEvent(1, 2, 3)], FeedAll(wire, chunk, segmented));
    }

    [Fact]
    public void A_character_cut_between_fragments_is_valid_utf8()
    {
        var euro = Encoding.UTF8.GetBytes("€");
        var wire = ClientFrames.Concat(
            ClientFrames.Frame(FrameOpcode.Text, euro.AsSpan(0, 1), fin: false),
            ClientFrames.Frame(FrameOpcode.Continuation, euro.AsSpan(1), fin: true));

        Assert.Equal([TextEvent("€")], FeedAll(wire, int.MaxValue, segmented: false));
    }

    [Fact]
    public void A_message_in_flight_survives_releasing_idle_buffers()
    {
        var reader = new WebSocketFrameReader(Limit);
        var first = new ReadOnlySequence<byte>(ClientFrames.Text("abc", fin: false));
        Assert.Equal(FrameEventKind.NeedMoreData, reader.Read(ref first).Kind);

        reader.ReleaseIdleBuffers();

        var second = new ReadOnlySequence<byte>(ClientFrames.Continuation("def", fin: true));
        var message = reader.Read(ref second);
        Assert.Equal((FrameEventKind.Message, "abcdef"), (message.Kind, Encoding.UTF8.GetString(message.Payload.Span)));
    }

    [Theory]
    [InlineData(126, 126)]
    [InlineData(1000, 126)]
    [InlineData(65535, 126)]
    [InlineData(65536, 127)]
    [InlineData(70000, 127)]
    public void Sixteen_and_sixty_four_bit_lengths_are_read(int length, int lengthCode)
    {
        var payload = new byte[length];
        new Random(length).NextBytes(payload);
        var wire = ClientFrames.Frame(FrameOpcode.Binary, payload);
        Assert.Equal(0x80 | lengthCode, wire[1]);
        Assert.Equal(length, lengthCode == 126
            ? BinaryPrimitives.ReadUInt16BigEndian(wire.AsSpan(2))
            : (long)BinaryPrimitives.ReadUInt64BigEndian(wire.AsSpan(2)));

        foreach (var chunk in new[] { 1000, int.MaxValue })
        {
            Assert.Equal([BinaryEvent(payload)], FeedAll(wire, chunk, segmented: false));
        }

        Assert.Equal([BinaryEvent(payload)], FeedAll(wire, 7, segmented: true));
    }

    [Fact]
    public void A_non_minimal_length_encoding_is_accepted()
    {
        // RFC 6455 says the minimal encoding MUST be used, but nothing is gained by refusing a longer one.
        var wire = ClientFrames.Concat([0x81, 0x80 | 126, 0x00, 0x02], ClientFrames.DefaultMask, [(byte)('o' ^ 0x37), (byte)('k' ^ 0xFA)]);
        Assert.Equal([TextEvent("ok")], FeedAll(wire, int.MaxValue, segmented: false));
    }

    [Fact]
    public void An_unmasked_client_frame_is_a_protocol_error()
    {
        AssertProtocolError(ClientFrames.Frame(FrameOpcode.Text, "hi"u8, masked: false));
        AssertProtocolError(ClientFrames.Frame(FrameOpcode.Ping, [], masked: false));
        AssertProtocolError(ClientFrames.Concat(ClientFrames.Text("fine"), ClientFrames.Frame(FrameOpcode.Binary, new byte[200], masked: false)));
    }

    [Theory]
    [InlineData(0x40)]
    [InlineData(0x20)]
    [InlineData(0x10)]
    [InlineData(0x70)]
    public void Reserved_bits_are_a_protocol_error(int reserved)
    {
        AssertProtocolError(ClientFrames.Frame(FrameOpcode.Text, "hi"u8, reserved: (byte)reserved));
        AssertProtocolError(ClientFrames.Frame(FrameOpcode.Ping, [], reserved: (byte)reserved));
    }

    [Theory]
    [InlineData(0x3)]
    [InlineData(0x4)]
    [InlineData(0x5)]
    [InlineData(0x6)]
    [InlineData(0x7)]
    [InlineData(0xB)]
    [InlineData(0xC)]
    [InlineData(0xD)]
    [InlineData(0xE)]
    [InlineData(0xF)]
    public void Unknown_opcodes_are_a_protocol_error(int opcode)
    {
        AssertProtocolError(ClientFrames.Raw((byte)(0x80 | opcode), "x"u8));
    }

    [Fact]
    public void A_continuation_without_a_message_to_continue_is_a_protocol_error()
    {
        AssertProtocolError(ClientFrames.Continuation("orphan", fin: true));
        AssertProtocolError(ClientFrames.Concat(ClientFrames.Text("done"), ClientFrames.Continuation("orphan", fin: false)));
    }

    [Fact]
    public void A_new_message_before_the_previous_one_ended_is_a_protocol_error()
    {
        AssertProtocolError(ClientFrames.Concat(ClientFrames.Text("first", fin: false), ClientFrames.Text("second")));
        AssertProtocolError(ClientFrames.Concat(ClientFrames.Text("first", fin: false), ClientFrames.Frame(FrameOpcode.Binary, [1])));
    }

    [Theory]
    [InlineData(FrameOpcode.Ping)]
    [InlineData(FrameOpcode.Pong)]
    [InlineData(FrameOpcode.Close)]
    public void A_control_frame_over_125_bytes_or_not_final_is_a_protocol_error(FrameOpcode opcode)
    {
        var atLimit = opcode == FrameOpcode.Close ? ClientFrames.ClosePayload(1000, new string('r', 123)) : new byte[125];
        Assert.NotEqual(FrameEventKind.ProtocolError, ReadOne(ClientFrames.Frame(opcode, atLimit)).Kind);

        AssertProtocolError(ClientFrames.Frame(opcode, new byte[126]));
        AssertProtocolError(ClientFrames.Frame(opcode, new byte[70000]));
        AssertProtocolError(ClientFrames.Frame(opcode, opcode == FrameOpcode.Close ? ClientFrames.ClosePayload(1000) : [], fin: false));
    }

    [Fact]
    public void Invalid_utf8_in_a_text_message_is_1007_but_the_same_bytes_in_a_binary_message_are_a_message()
    {
        byte[] invalid = [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D]; // {"\xC3("}
        AssertProtocolError(ClientFrames.Frame(FrameOpcode.Text, invalid), WebSocketCloseStatus.InvalidPayloadData);
        AssertProtocolError(ClientFrames.Frame(FrameOpcode.Text, [0xED, 0xA0, 0x80]), WebSocketCloseStatus.InvalidPayloadData); // a surrogate
        AssertProtocolError(ClientFrames.Frame(FrameOpcode.Text, [0xE2, 0x82]), WebSocketCloseStatus.InvalidPayloadData); // truncated
        AssertProtocolError(
            ClientFrames.Concat(ClientFrames.Frame(FrameOpcode.Text, [0x61], fin: false), ClientFrames.Frame(FrameOpcode.Continuation, [0xFF], fin: true)),
            WebSocketCloseStatus.InvalidPayloadData);

        Assert.Equal([BinaryEvent(invalid)], FeedAll(ClientFrames.Frame(FrameOpcode.Binary, invalid), int.MaxValue, segmented: false));
    }

    [Theory]
    [MemberData(nameof(Arrivals))]
    public void A_message_over_the_limit_is_reported_then_skipped_and_the_close_after_it_is_read(int chunk, bool segmented)
    {
        var wire = ClientFrames.Concat(
            ClientFrames.Text(new string('a', 17)),
            ClientFrames.Close(1000, "bye"));

        Assert.Equal(
            [$"MessageTooBig {(int)WebSocketCloseStatus.MessageTooBig} ", CloseEvent(WebSocketCloseStatus.NormalClosure, "bye")],
            FeedAll(wire, chunk, segmented, maxMessageBytes: 16));
    }

    [Theory]
    [MemberData(nameof(Arrivals))]
    public void A_fragmented_message_over_the_limit_is_skipped_to_its_end_and_reading_goes_on(int chunk, bool segmented)
    {
        var wire = ClientFrames.Concat(
            ClientFrames.Text(new string('a', 10), fin: false),
            ClientFrames.Ping("p1"),
            ClientFrames.Continuation(new string('b', 10), fin: false, mask: OtherMask), // over the limit here
            ClientFrames.Ping("p2"),
            ClientFrames.Continuation(new string('c', 300), fin: false),
            ClientFrames.Continuation("d", fin: true, mask: OtherMask),
            ClientFrames.Text("next"),
            ClientFrames.Close(1001));

        Assert.Equal(
            [
                PingEvent("p1"),
                $"MessageTooBig {(int)WebSocketCloseStatus.MessageTooBig} ",
                PingEvent("p2"),
                TextEvent("next"),
                CloseEvent(WebSocketCloseStatus.EndpointUnavailable, string.Empty),
            ],
            FeedAll(wire, chunk, segmented, maxMessageBytes: 16));
    }

    [Fact]
    public void A_message_exactly_at_the_limit_is_delivered()
    {
        var single = ClientFrames.Text(new string('a', 16));
        var fragmented = ClientFrames.Concat(ClientFrames.Text(new string('a', 8), fin: false), ClientFrames.Continuation(new string('a', 8), fin: true));
        Assert.Equal([TextEvent(new string('a', 16))], FeedAll(single, int.MaxValue, segmented: false, maxMessageBytes: 16));
        Assert.Equal([TextEvent(new string('a', 16))], FeedAll(fragmented, 1, segmented: false, maxMessageBytes: 16));
    }

    [Fact]
    public void A_huge_announced_length_is_too_big_without_its_bytes_and_an_impossible_one_is_a_protocol_error()
    {
        var header = ClientFrames.Concat([0x82, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0], ClientFrames.DefaultMask); // 2^40 bytes
        var reader = new WebSocketFrameReader(Limit);
        var buffer = new ReadOnlySequence<byte>(ClientFrames.Concat(header, new byte[100]));
        Assert.Equal(FrameEventKind.MessageTooBig, reader.Read(ref buffer).Kind);
        Assert.Equal(FrameEventKind.NeedMoreData, reader.Read(ref buffer).Kind);
        Assert.True(buffer.IsEmpty);

        AssertProtocolError(ClientFrames.Concat([0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0], ClientFrames.DefaultMask));
    }

    [Fact]
    public void A_close_frame_carries_its_code_and_reason()
    {
        var close = ReadOne(ClientFrames.Close(1000, "Goodbye, ✓"));
        Assert.Equal((FrameEventKind.Close, WebSocketCloseStatus.NormalClosure, "Goodbye, ✓"), (close.Kind, close.CloseStatus, close.Description));

        var custom = ReadOne(ClientFrames.Close(4321));
        Assert.Equal((FrameEventKind.Close, (WebSocketCloseStatus)4321, string.Empty), (custom.Kind, custom.CloseStatus, custom.Description));
    }

    [Fact]
    public void An_empty_close_frame_is_1005()
    {
        var close = ReadOne(ClientFrames.Frame(FrameOpcode.Close, []));
        Assert.Equal((FrameEventKind.Close, WebSocketCloseStatus.Empty, null), (close.Kind, close.CloseStatus, close.Description));
    }

    [Fact]
    public void A_close_frame_with_a_one_byte_payload_is_a_protocol_error() =>
        AssertProtocolError(ClientFrames.Frame(FrameOpcode.Close, [0x03]));

    [Theory]
    [InlineData(0)]
    [InlineData(999)]
    [InlineData(1004)]
    [InlineData(1005)]
    [InlineData(1006)]
    [InlineData(1015)]
    [InlineData(1016)]
    [InlineData(2000)]
    [InlineData(2999)]
    [InlineData(5000)]
    [InlineData(65535)]
    public void A_close_code_that_may_not_appear_on_the_wire_is_a_protocol_error(int code) =>
        AssertProtocolError(ClientFrames.Close((ushort)code, "x"));

    [Theory]
    [InlineData(1000)]
    [InlineData(1001)]
    [InlineData(1002)]
    [InlineData(1003)]
    [InlineData(1007)]
    [InlineData(1008)]
    [InlineData(1009)]
    [InlineData(1010)]
    [InlineData(1011)]
    [InlineData(3000)]
    [InlineData(4999)]
    public void A_close_code_that_may_appear_on_the_wire_is_a_close(int code)
    {
        var close = ReadOne(ClientFrames.Close((ushort)code));
        Assert.Equal((FrameEventKind.Close, code), (close.Kind, (int)close.CloseStatus));
    }

    [Fact]
    public void Invalid_utf8_in_a_close_reason_is_1007() =>
        AssertProtocolError(ClientFrames.Frame(FrameOpcode.Close, [0x03, 0xE8, 0xC3, 0x28]), WebSocketCloseStatus.InvalidPayloadData);

    [Fact]
    public void Unmask_matches_a_naive_xor_at_every_offset_and_length()
    {
        byte[] maskBytes = [0x12, 0x34, 0xAB, 0xCD];
        var mask = BinaryPrimitives.ReadUInt32LittleEndian(maskBytes);
        var random = new Random(6455);
        foreach (var length in Enumerable.Range(0, 21).Concat([31, 64, 1001]))
        {
            for (var offset = 0; offset < 4; offset++)
            {
                var data = new byte[length];
                random.NextBytes(data);
                var expected = data.Select((b, i) => (byte)(b ^ maskBytes[(offset + i) & 3])).ToArray();

                // Also from an odd position in a larger array, with guard bytes either side.
                var framed = new byte[length + 3];
                framed[0] = 0xEE;
                framed[^1] = 0xEE;
                data.CopyTo(framed, 1);

                var next = WebSocketFrameReader.Unmask(framed.AsSpan(1, length), mask, offset);

                Assert.Equal(expected, framed.AsSpan(1, length).ToArray());
                Assert.Equal((offset + length) & 3, next);
                Assert.Equal((byte)0xEE, framed[0]);
                Assert.Equal((byte)0xEE, framed[^1]);
            }
        }
    }

    [Fact]
    public void Unmask_in_pieces_equals_unmask_at_once()
    {
        byte[] maskBytes = [0x01, 0x02, 0x04, 0x08];
        var mask = BinaryPrimitives.ReadUInt32LittleEndian(maskBytes);
        var data = Enumerable.Range(0, 50).Select(i => (byte)(i * 7)).ToArray();
        var whole = data.ToArray();
        WebSocketFrameReader.Unmask(whole, mask, 0);

        var pieces = data.ToArray();
        var offset = 0;
        var position = 0;
        foreach (var size in new[] { 1, 3, 9, 2, 17, 5, 13 })
        {
            offset = WebSocketFrameReader.Unmask(pieces.AsSpan(position, size), mask, offset);
            position += size;
        }

        Assert.Equal(whole, pieces);
    }

    [Theory]
    [InlineData(0, new byte[] { 0x81, 0x00 })]
    [InlineData(125, new byte[] { 0x81, 0x7D })]
    [InlineData(126, new byte[] { 0x81, 0x7E, 0x00, 0x7E })]
    [InlineData(65535, new byte[] { 0x81, 0x7E, 0xFF, 0xFF })]
    [InlineData(65536, new byte[] { 0x81, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00 })]
    [InlineData(100_000, new byte[] { 0x81, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xA0 })]
    public void The_writer_uses_the_shortest_length_encoding_unmasked(int length, byte[] header)
    {
        var payload = new byte[length];
        new Random(length).NextBytes(payload);
        var output = new ArrayBufferWriter<byte>();

        WebSocketFrameWriter.Write(output, FrameOpcode.Text, payload);

        Assert.Equal(header.Length + length, output.WrittenCount);
        Assert.Equal(header, output.WrittenSpan[..header.Length].ToArray());
        Assert.True(output.WrittenSpan[header.Length..].SequenceEqual(payload));
    }

    [Theory]
    [InlineData(FrameOpcode.Text, 0x81)]
    [InlineData(FrameOpcode.Binary, 0x82)]
    [InlineData(FrameOpcode.Close, 0x88)]
    [InlineData(FrameOpcode.Ping, 0x89)]
    [InlineData(FrameOpcode.Pong, 0x8A)]
    public void The_writer_sends_final_frames_with_the_opcode(FrameOpcode opcode, int first)
    {
        var output = new ArrayBufferWriter<byte>();
        WebSocketFrameWriter.Write(output, opcode, "ab"u8);
        Assert.Equal(new byte[] { (byte)first, 0x02, (byte)'a', (byte)'b' }, output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Several_frames_written_one_after_the_other_are_contiguous()
    {
        var output = new ArrayBufferWriter<byte>(1);
        WebSocketFrameWriter.Write(output, FrameOpcode.Text, """{"type":"OPEN"}"""u8);
        WebSocketFrameWriter.Write(output, FrameOpcode.Pong, []);
        Assert.Equal(
            ClientFrames.Concat([0x81, 15], Encoding.ASCII.GetBytes("""{"type":"OPEN"}"""), [0x8A, 0x00]),
            output.WrittenSpan.ToArray());
    }

    [Fact]
    public void A_close_frame_has_the_status_big_endian_then_the_utf8_reason()
    {
        var output = new ArrayBufferWriter<byte>();
        WebSocketFrameWriter.WriteClose(output, WebSocketCloseStatus.MessageTooBig, "Message too big ✓");
        var reason = Encoding.UTF8.GetBytes("Message too big ✓");
        Assert.Equal(ClientFrames.Concat([0x88, (byte)(2 + reason.Length), 0x03, 0xF1], reason), output.WrittenSpan.ToArray());

        var bare = new ArrayBufferWriter<byte>();
        WebSocketFrameWriter.WriteClose(bare, WebSocketCloseStatus.NormalClosure, null);
        Assert.Equal(new byte[] { 0x88, 0x02, 0x03, 0xE8 }, bare.WrittenSpan.ToArray());

        var empty = new ArrayBufferWriter<byte>();
        WebSocketFrameWriter.WriteClose(empty, (WebSocketCloseStatus)4000, string.Empty);
        Assert.Equal(new byte[] { 0x88, 0x02, 0x0F, 0xA0 }, empty.WrittenSpan.ToArray());
    }

    [Theory]
    [InlineData("x", 123, 123)] // ASCII: exactly 123 bytes of reason
    [InlineData("é", 200, 122)] // 2-byte characters: 61 whole characters, never half of one
    [InlineData("€", 100, 123)] // 3-byte characters: 41 whole characters
    [InlineData("😀", 40, 120)] // 4-byte characters (surrogate pairs): 30 whole characters
    public void A_long_close_reason_is_cut_to_whole_characters_within_125_bytes(string unit, int repeat, int reasonBytes)
    {
        var reason = string.Concat(Enumerable.Repeat(unit, repeat));
        var output = new ArrayBufferWriter<byte>();

        WebSocketFrameWriter.WriteClose(output, WebSocketCloseStatus.PolicyViolation, reason);

        var frame = output.WrittenSpan;
        Assert.Equal(0x88, frame[0]);
        Assert.Equal(2 + reasonBytes, frame[1]);
        Assert.Equal(2 + 2 + reasonBytes, frame.Length);
        Assert.Equal(1008, BinaryPrimitives.ReadUInt16BigEndian(frame[2..]));
        Assert.True(System.Text.Unicode.Utf8.IsValid(frame[4..]));
        Assert.StartsWith(Encoding.UTF8.GetString(frame[4..]), reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_lone_surrogate_in_a_close_reason_is_replaced_so_the_frame_stays_valid_utf8()
    {
        var output = new ArrayBufferWriter<byte>();
        WebSocketFrameWriter.WriteClose(output, WebSocketCloseStatus.NormalClosure, "a\uD800b");
        Assert.Equal(new byte[] { 0x88, 0x07, 0x03, 0xE8, (byte)'a', 0xEF, 0xBF, 0xBD, (byte)'b' }, output.WrittenSpan.ToArray());
    }

    [Fact]
    public void What_the_writer_sends_the_reader_accepts_once_masked()
    {
        // The writer's frames are the server's (unmasked); masked by a client, the reader takes them back.
        var output = new ArrayBufferWriter<byte>();
        WebSocketFrameWriter.WriteClose(output, WebSocketCloseStatus.NormalClosure, "round trip");
        var written = output.WrittenSpan.ToArray();
        var payload = written.AsSpan(2).ToArray();
        var close = ReadOne(ClientFrames.Raw(written[0], payload));
        Assert.Equal((FrameEventKind.Close, WebSocketCloseStatus.NormalClosure, "round trip"), (close.Kind, close.CloseStatus, close.Description));
    }
}

/// <summary>Byte sequences split into segments, as a socket's pipe hands them out.</summary>
internal static class ByteSequences
{
    /// <summary>One sequence made of segments of <paramref name="size"/> bytes (the last one shorter).</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, int size)
    {
        if (bytes.Length == 0 || size >= bytes.Length)
        {
            return new ReadOnlySequence<byte>(bytes);
        }

        var first = new Segment(bytes.AsMemory(0, size), 0);
        var last = first;
        for (var offset = size; offset < bytes.Length; offset += size)
        {
            last = last.Append(bytes.AsMemory(offset, Math.Min(size, bytes.Length - offset)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
