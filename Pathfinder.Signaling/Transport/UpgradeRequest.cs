using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Pathfinder.Signaling.Transport;

/// <summary>Whether the bytes a connection opened with are a PeerJS WebSocket upgrade this fast path takes.</summary>
public enum UpgradeHead
{
    /// <summary>Not (or not plainly) a PeerJS upgrade: Kestrel's HTTP stack handles the connection.</summary>
    NotOurs,

    /// <summary>It may be one; read more.</summary>
    Incomplete,

    /// <summary>A complete, well-formed HTTP/1.1 WebSocket upgrade for the PeerJS socket path.</summary>
    Ours,
}

/// <summary>
/// The HTTP/1.1 request head of a WebSocket upgrade to <c>{path}/peerjs</c>, parsed straight from the connection's
/// first bytes (RFC 9112 §3-5, RFC 6455 §4.2.1). Only a plain, complete upgrade is taken: anything unusual (another
/// path or method, HTTP/1.0, obsolete line folding, non-ASCII bytes, a body, duplicate Host or key, forwarded headers)
/// is left to Kestrel's HTTP stack, which answers it as before.
/// </summary>
public sealed class UpgradeRequest
{
    /// <summary>Kestrel's default limit for a request head.</summary>
    public const int MaxHeadBytes = 32 * 1024;

    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    private static ReadOnlySpan<byte> Version => " HTTP/1.1"u8;

    private UpgradeRequest(string? key, string? id, string? token, string? origin, string webSocketKey)
    {
        Key = key;
        Id = id;
        Token = token;
        Origin = origin;
        WebSocketKey = webSocketKey;
    }

    /// <summary>The <c>key</c> query parameter (the last one when repeated, as the reference).</summary>
    public string? Key { get; }

    public string? Id { get; }

    public string? Token { get; }

    /// <summary>The Origin header, when the client (a browser) sent one.</summary>
    public string? Origin { get; }

    /// <summary>Sec-WebSocket-Key.</summary>
    public string WebSocketKey { get; }

    /// <summary>The request line's start this fast path looks for: <c>GET {path}/peerjs</c>.</summary>
    public static byte[] RequestLinePrefix(string socketPath) => Encoding.ASCII.GetBytes("GET " + socketPath);

    /// <summary>
    /// Looks at the bytes received so far. <paramref name="headLength"/> is the length of the head (with its blank
    /// line) when the result is <see cref="UpgradeHead.Ours"/>.
    /// </summary>
    public static UpgradeHead TryParse(in ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> requestLinePrefix, out UpgradeRequest? request, out int headLength)
    {
        request = null;
        headLength = 0;

        // The request line must start with "GET {path}/peerjs" followed by '?' or ' ' (the exact path).
        Span<byte> start = stackalloc byte[Math.Min(requestLinePrefix.Length + 1, 512)];
        var available = (int)Math.Min(buffer.Length, start.Length);
        buffer.Slice(0, available).CopyTo(start);
        var compared = Math.Min(available, requestLinePrefix.Length);
        if (!start[..compared].SequenceEqual(requestLinePrefix[..compared]) || requestLinePrefix.Length >= start.Length)
        {
            return UpgradeHead.NotOurs;
        }

        if (available <= requestLinePrefix.Length)
        {
            return UpgradeHead.Incomplete;
        }

        if (start[requestLinePrefix.Length] is not ((byte)'?' or (byte)' '))
        {
            return UpgradeHead.NotOurs;
        }

        var window = buffer.Length > MaxHeadBytes + HeadEnd.Length ? buffer.Slice(0, MaxHeadBytes + HeadEnd.Length) : buffer;
        ReadOnlySpan<byte> bytes = window.IsSingleSegment ? window.FirstSpan : window.ToArray();
        var end = bytes.IndexOf(HeadEnd);
        if (HasBareLineFeed(end < 0 ? bytes : bytes[..end]))
        {
            return UpgradeHead.NotOurs; // lines must end in CRLF; Kestrel decides what to make of the rest
        }

        if (end < 0)
        {
            return buffer.Length > MaxHeadBytes ? UpgradeHead.NotOurs : UpgradeHead.Incomplete;
        }

        headLength = end + HeadEnd.Length;
        request = Parse(bytes[..end], requestLinePrefix.Length - 4);
        return request is null ? UpgradeHead.NotOurs : UpgradeHead.Ours;
    }

    // head: the request line and header lines, without the final CRLF CRLF. pathLength: length of "{path}/peerjs".
    private static UpgradeRequest? Parse(ReadOnlySpan<byte> text, int pathLength)
    {
        var lineEnd = text.IndexOf("\r\n"u8);
        var requestLine = lineEnd < 0 ? text : text[..lineEnd];
        if (!requestLine.EndsWith(Version))
        {
            return null;
        }

        // "GET " + path, then "?query" (optional), then " HTTP/1.1".
        var target = requestLine[(4 + pathLength)..^Version.Length];
        if (target.IndexOfAny((byte)' ', (byte)'#') >= 0 || (target.Length > 0 && target[0] != (byte)'?') || !IsVisibleAscii(target))
        {
            return null;
        }

        bool host = false, upgrade = false, connection = false, version = false;
        string? webSocketKey = null, origin = null;
        var rest = lineEnd < 0 ? [] : text[(lineEnd + 2)..];
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf("\r\n"u8);
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 2)..];

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || line[0] is (byte)' ' or (byte)'\t')
            {
                return null; // obsolete line folding or not a header line
            }

            var name = line[..colon];
            var value = Trim(line[(colon + 1)..]);
            if (!IsVisibleAscii(name) || !IsFieldValue(value))
            {
                return null;
            }

            switch (name.Length)
            {
                case 4 when Is(name, "host"u8):
                    if (host)
                    {
                        return null;
                    }

                    host = true;
                    break;
                case 7 when Is(name, "upgrade"u8):
                    upgrade |= HasToken(value, "websocket"u8);
                    break;
                case 10 when Is(name, "connection"u8):
                    connection |= HasToken(value, "upgrade"u8);
                    break;
                case 21 when Is(name, "sec-websocket-version"u8):
                    if (version || !value.SequenceEqual("13"u8))
                    {
                        return null;
                    }

                    version = true;
                    break;
                case 17 when Is(name, "sec-websocket-key"u8):
                    if (webSocketKey is not null)
                    {
                        return null;
                    }

                    webSocketKey = AsciiString(value);
                    break;
                case 6 when Is(name, "origin"u8):
                    if (origin is not null)
                    {
                        return null;
                    }

                    origin = AsciiString(value);
                    break;
                default:
                    if (Is(name, "content-length"u8) || Is(name, "transfer-encoding"u8) || Is(name, "forwarded"u8)
                        || (name.Length > 12 && Is(name[..12], "x-forwarded-"u8)))
                    {
                        // A body on an upgrade, or a request that came through a proxy: the HTTP stack and its
                        // forwarded-headers rules handle it.
                        return null;
                    }

                    break;
            }
        }

        if (!host || !upgrade || !connection || !version || webSocketKey is null || !IsValidKey(webSocketKey))
        {
            return null;
        }

        return ParseQuery(target, out var key, out var id, out var token)
            ? new UpgradeRequest(key, id, token, origin, webSocketKey)
            : null;
    }

    // The three parameters PeerJS sends, decoded as ASP.NET Core's query parser does ('+' is a space, %XX escapes);
    // the last occurrence wins. Anything this simple reader does not handle (escaped names) goes to the HTTP stack.
    private static bool ParseQuery(ReadOnlySpan<byte> target, out string? key, out string? id, out string? token)
    {
        key = id = token = null;
        var query = target.IsEmpty ? target : target[1..];
        while (!query.IsEmpty)
        {
            var amp = query.IndexOf((byte)'&');
            var pair = amp < 0 ? query : query[..amp];
            query = amp < 0 ? [] : query[(amp + 1)..];
            var eq = pair.IndexOf((byte)'=');
            var name = eq < 0 ? pair : pair[..eq];
            var value = eq < 0 ? [] : pair[(eq + 1)..];
            if (name.IndexOfAny((byte)'%', (byte)'+') >= 0)
            {
                return false;
            }

            if (name.SequenceEqual("key"u8))
            {
                key = Decode(value);
            }
            else if (name.SequenceEqual("id"u8))
            {
                id = Decode(value);
            }
            else if (name.SequenceEqual("token"u8))
            {
                token = Decode(value);
            }
        }

        return true;
    }

    private static string Decode(ReadOnlySpan<byte> value)
    {
        var text = AsciiString(value);
        return value.IndexOfAny((byte)'%', (byte)'+') < 0 ? text : Uri.UnescapeDataString(text.Replace('+', ' '));
    }

    /// <summary>Sec-WebSocket-Accept for a client's key (RFC 6455 §4.2.2).</summary>
    public static string AcceptKey(string webSocketKey)
    {
        Span<byte> input = stackalloc byte[128];
        var length = Encoding.ASCII.GetBytes(webSocketKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", input);
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
#pragma warning disable CA5350 // SHA-1 is what RFC 6455 specifies for the handshake; it is not used for security.
        SHA1.HashData(input[..length], hash);
#pragma warning restore CA5350
        return Convert.ToBase64String(hash);
    }

    /// <summary>The client's key must be 16 random bytes, base64-encoded (RFC 6455 §4.1).</summary>
    public static bool IsValidKey(string key)
    {
        Span<byte> decoded = stackalloc byte[18];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out var written) && written == 16;
    }

    private static bool Is(ReadOnlySpan<byte> name, ReadOnlySpan<byte> lowerCase) =>
        name.Length == lowerCase.Length && Ascii.EqualsIgnoreCase(name, lowerCase);

    private static string AsciiString(ReadOnlySpan<byte> value) => Encoding.ASCII.GetString(value);

    // A comma-separated header value containing the token (case-insensitive).
    private static bool HasToken(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
    {
        while (!list.IsEmpty)
        {
            var comma = list.IndexOf((byte)',');
            var part = Trim(comma < 0 ? list : list[..comma]);
            list = comma < 0 ? [] : list[(comma + 1)..];
            if (Is(part, token))
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasBareLineFeed(ReadOnlySpan<byte> bytes)
    {
        for (var at = bytes.IndexOf((byte)'\n'); at >= 0; at = bytes.IndexOf((byte)'\n'))
        {
            if (at == 0 || bytes[at - 1] != (byte)'\r')
            {
                return true;
            }

            bytes = bytes[(at + 1)..];
        }

        return false;
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> value) => value.Trim(" \t"u8);

    private static bool IsVisibleAscii(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if (b is <= 0x20 or >= 0x7F)
            {
                return false;
            }
        }

        return true;
    }

    // Printable ASCII, spaces and tabs (no controls, no obs-text: Kestrel's default rejects non-ASCII header bytes).
    private static bool IsFieldValue(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if (b is (< 0x20 and not (byte)'\t') or >= 0x7F)
            {
                return false;
            }
        }

        return true;
    }
}
