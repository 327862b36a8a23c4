using System.Net.WebSockets;

namespace Pathfinder.Signaling.Transport;

/// <summary>RFC 6455 opcodes.</summary>
public enum FrameOpcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>What <see cref="WebSocketFrameReader.Read"/> found.</summary>
public enum FrameEventKind
{
    /// <summary>The buffer is used up; read more from the socket.</summary>
    NeedMoreData,

    /// <summary>A complete text or binary message (<see cref="FrameEvent.Payload"/>).</summary>
    Message,

    /// <summary>A ping: answer with a pong carrying the same payload.</summary>
    Ping,

    /// <summary>A pong (unsolicited or not): nothing to do.</summary>
    Pong,

    /// <summary>The client's close frame (<see cref="FrameEvent.CloseStatus"/>, <see cref="FrameEvent.Description"/>).</summary>
    Close,

    /// <summary>The client broke the protocol: close with <see cref="FrameEvent.CloseStatus"/> and stop reading frames.</summary>
    ProtocolError,

    /// <summary>The message being received is over the size limit: close with 1009; its remaining bytes are skipped.</summary>
    MessageTooBig,
}

/// <summary>One event from the frame reader. <see cref="Payload"/> stays valid until the next call to the reader.</summary>
public readonly record struct FrameEvent(
    FrameEventKind Kind,
    ReadOnlyMemory<byte> Payload = default,
    bool IsText = false,
    WebSocketCloseStatus CloseStatus = WebSocketCloseStatus.Empty,
    string? Description = null);
