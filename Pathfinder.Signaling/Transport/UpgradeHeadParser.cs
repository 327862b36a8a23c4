using System.Buffers;
using System.Text;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// Reads one connection's request head as it arrives, line by line: every byte is looked at once however many reads
/// the head takes (the buffer keeps every byte received, since a head that is not ours goes to Kestrel untouched; the
/// parser remembers how far it got). A line is judged as soon as it is complete, and a line or head that grows past
/// Kestrel's limits is not ours at once (<see cref="UpgradeHeadLimits"/>).
/// </summary>
public sealed class UpgradeHeadParser(byte[] requestLinePrefix, UpgradeHeadLimits limits)
{
    private static ReadOnlySpan<byte> Version => " HTTP/1.1"u8;

    private long _lineStart;  // where the line being read starts
    private long _scanned;    // bytes searched for the line's end so far
    private bool _prefixMatched;
    private bool _requestLineDone;
    private long _headerBytes;
    private int _headerCount;

    private bool _host, _upgrade, _connection, _version;
    private string? _webSocketKey, _origin, _key, _id, _token;

    /// <summary>
    /// Takes the bytes received so far (always from the connection's first byte). <paramref name="headLength"/> is the
    /// length of the head (with its blank line) when the result is <see cref="UpgradeHead.Ours"/>. After
    /// <see cref="UpgradeHead.NotOurs"/> or <see cref="UpgradeHead.Ours"/> the parser is done.
    /// </summary>
    public UpgradeHead Advance(in ReadOnlySequence<byte> buffer, out UpgradeRequest? request, out int headLength)
    {
        request = null;
        headLength = 0;

        if (!_prefixMatched)
        {
            var start = MatchPrefix(buffer);
            if (start != UpgradeHead.Ours)
            {
                return start;
            }

            _prefixMatched = true;
        }

        while (true)
        {
            var rest = buffer.Slice(_scanned);
            if (rest.PositionOf((byte)'\n') is not { } lineFeed)
            {
                _scanned = buffer.Length;
                return WithinLimits(buffer.Length - _lineStart + 2) ? UpgradeHead.Incomplete : UpgradeHead.NotOurs;
            }

            var end = _scanned + rest.Slice(0, lineFeed).Length; // the '\n'
            var length = end - _lineStart + 1;                    // with its line break
            if (!WithinLimits(length))
            {
                return UpgradeHead.NotOurs;
            }

            var line = buffer.Slice(_lineStart, length);
            _lineStart = _scanned = end + 1;
            if (!Line(line.IsSingleSegment ? line.FirstSpan : line.ToArray(), out var headEnd))
            {
                return UpgradeHead.NotOurs;
            }

            if (headEnd)
            {
                headLength = (int)_lineStart;
                request = Complete();
                return request is null ? UpgradeHead.NotOurs : UpgradeHead.Ours;
            }
        }
    }

    // The request line must start with "GET {path}/peerjs" followed by '?' or ' ' (the exact path).
    private UpgradeHead MatchPrefix(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> start = stackalloc byte[Math.Min(requestLinePrefix.Length + 1, 512)];
        var available = (int)Math.Min(buffer.Length, start.Length);
        buffer.Slice(0, available).CopyTo(start);
        var compared = Math.Min(available, requestLinePrefix.Length);
        if (!start[..compared].SequenceEqual(requestLinePrefix.AsSpan(0, compared)) || requestLinePrefix.Length >= start.Length)
        {
            return UpgradeHead.NotOurs;
        }

        if (available <= requestLinePrefix.Length)
        {
            return UpgradeHead.Incomplete;
        }

        return start[requestLinePrefix.Length] is (byte)'?' or (byte)' ' ? UpgradeHead.Ours : UpgradeHead.NotOurs;
    }

    // Whether a line of this length (with its CRLF) keeps the head within Kestrel's size limits: the request line on
    // its own, header lines (and the final CRLF) together. (Their number is checked as each header line completes.)
    private bool WithinLimits(long lineLength) => !_requestLineDone
        ? lineLength <= limits.MaxRequestLineBytes
        : _headerBytes + lineLength <= limits.MaxHeaderBytes;

    // One complete line with its line break; false when it makes the head not ours.
    private bool Line(ReadOnlySpan<byte> line, out bool headEnd)
    {
        headEnd = false;
        if (line.Length < 2 || line[^2] != (byte)'\r')
        {
            return false; // lines must end in CRLF; Kestrel decides what to make of the rest
        }

        var text = line[..^2];
        if (!_requestLineDone)
        {
            _requestLineDone = true;
            return RequestLine(text);
        }

        if (text.IsEmpty)
        {
            headEnd = true;
            return true;
        }

        _headerBytes += line.Length;
        return ++_headerCount <= limits.MaxHeaderCount && Header(text);
    }

    // "GET " + path, then "?query" (optional), then " HTTP/1.1".
    private bool RequestLine(ReadOnlySpan<byte> requestLine)
    {
        if (requestLine.Length < requestLinePrefix.Length + Version.Length || !requestLine.EndsWith(Version))
        {
            return false;
        }

        var target = requestLine[requestLinePrefix.Length..^Version.Length];
        if (target.Length > 0 && (target[0] != (byte)'?' || !IsQuery(target[1..])))
        {
            return false;
        }

        return target.IsEmpty || ParseQuery(target[1..]);
    }

    private bool Header(ReadOnlySpan<byte> line)
    {
        var colon = line.IndexOf((byte)':');
        if (colon <= 0)
        {
            return false; // obsolete line folding, or not a header line
        }

        var name = line[..colon];
        var value = Trim(line[(colon + 1)..]);
        if (!IsToken(name) || !IsFieldValue(value))
        {
            return false;
        }

        switch (name.Length)
        {
            case 4 when Is(name, "host"u8):
                if (_host || !IsHost(value) || !limits.AllowsHost(Encoding.ASCII.GetString(value)))
                {
                    return false; // host filtering (AllowedHosts) answers it in the pipeline
                }

                _host = true;
                return true;
            case 7 when Is(name, "upgrade"u8):
                _upgrade |= HasToken(value, "websocket"u8);
                return true;
            case 10 when Is(name, "connection"u8):
                _connection |= HasToken(value, "upgrade"u8);
                return true;
            case 21 when Is(name, "sec-websocket-version"u8):
                if (_version || !value.SequenceEqual("13"u8))
                {
                    return false;
                }

                _version = true;
                return true;
            case 17 when Is(name, "sec-websocket-key"u8):
                if (_webSocketKey is not null)
                {
                    return false;
                }

                _webSocketKey = Encoding.ASCII.GetString(value);
                return true;
            case 6 when Is(name, "origin"u8):
                if (_origin is not null)
                {
                    return false;
                }

                _origin = Encoding.ASCII.GetString(value);
                return true;
            default:
                // A body on an upgrade, or a request that came through a proxy: the HTTP stack and its
                // forwarded-headers rules handle it.
                return !(Is(name, "content-length"u8) || Is(name, "transfer-encoding"u8) || Is(name, "forwarded"u8)
                    || (name.Length > 12 && Is(name[..12], "x-forwarded-"u8)));
        }
    }

    private UpgradeRequest? Complete() =>
        _host && _upgrade && _connection && _version && _webSocketKey is not null && UpgradeRequest.IsValidKey(_webSocketKey)
            ? new UpgradeRequest(_key, _id, _token, _origin, _webSocketKey)
            : null;

    // The three parameters PeerJS sends, read as ASP.NET Core's Request.Query reads them: names case-insensitive,
    // values decoded ('+' is a space, %XX escapes), the last occurrence wins. Escaped names go to the HTTP stack.
    private bool ParseQuery(ReadOnlySpan<byte> query)
    {
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

            if (Is(name, "key"u8))
            {
                _key = Decode(value);
            }
            else if (Is(name, "id"u8))
            {
                _id = Decode(value);
            }
            else if (Is(name, "token"u8))
            {
                _token = Decode(value);
            }
        }

        return true;
    }

    private static string Decode(ReadOnlySpan<byte> value)
    {
        var text = Encoding.ASCII.GetString(value);
        return value.IndexOfAny((byte)'%', (byte)'+') < 0 ? text : Uri.UnescapeDataString(text.Replace('+', ' '));
    }

    private static bool Is(ReadOnlySpan<byte> name, ReadOnlySpan<byte> lowerCase) =>
        name.Length == lowerCase.Length && Ascii.EqualsIgnoreCase(name, lowerCase);

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

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> value) => value.Trim(" \t"u8);

    private static bool IsToken(ReadOnlySpan<byte> name) => HttpToken.IsToken(name);

    // RFC 3986 query characters (pchar / "/" / "?"), percent signs included: all of them are fine for Kestrel.
    private static bool IsQuery(ReadOnlySpan<byte> query) => query.IndexOfAnyExcept(QueryChars) < 0;

    private static readonly SearchValues<byte> QueryChars = SearchValues.Create(
        "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz%!$&'()*+,;=:@/?"u8);

    // A plain Host: a name or IPv4 address, or a bracketed IPv6 address, with an optional port. Anything else (empty
    // included) is Kestrel's to judge.
    private static bool IsHost(ReadOnlySpan<byte> host)
    {
        if (host.IsEmpty)
        {
            return false;
        }

        ReadOnlySpan<byte> port;
        if (host[0] == (byte)'[')
        {
            var close = host.IndexOf((byte)']');
            if (close < 2 || host[1..close].IndexOfAnyExcept(Ipv6Chars) >= 0)
            {
                return false;
            }

            port = host[(close + 1)..];
        }
        else
        {
            var colon = host.IndexOf((byte)':');
            var name = colon < 0 ? host : host[..colon];
            if (name.IsEmpty || name.IndexOfAnyExcept(HostNameChars) >= 0)
            {
                return false;
            }

            port = colon < 0 ? [] : host[colon..];
        }

        return port.IsEmpty || (port.Length is > 1 and <= 6 && port[0] == (byte)':' && port[1..].IndexOfAnyExcept(Digits) < 0);
    }

    private static readonly SearchValues<byte> HostNameChars = SearchValues.Create(
        "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    private static readonly SearchValues<byte> Ipv6Chars = SearchValues.Create(":.0123456789ABCDEFabcdef"u8);

    private static readonly SearchValues<byte> Digits = SearchValues.Create("0123456789"u8);

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

/// <summary>
/// RFC 9110 §5.6.2 tokens, the characters a header name may have. Kestrel itself lets other visible characters through
/// in header names (<c>(</c>, <c>"</c>, <c>/</c>, <c>{</c>…); the service answers such requests 400, as the reference
/// does: the pipeline's first middleware checks every request (<c>Http.HttpPipeline</c>), and the fast path
/// leaves such heads to it.
/// </summary>
public static class HttpToken
{
    private const string Characters = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    private static readonly SearchValues<byte> Bytes = SearchValues.Create(Encoding.ASCII.GetBytes(Characters));

    private static readonly SearchValues<char> Chars = SearchValues.Create(Characters);

    public static bool IsToken(ReadOnlySpan<byte> name) => !name.IsEmpty && name.IndexOfAnyExcept(Bytes) < 0;

    public static bool IsToken(ReadOnlySpan<char> name) => !name.IsEmpty && name.IndexOfAnyExcept(Chars) < 0;

    /// <summary>Whether every header name of a request is a token.</summary>
    public static bool AllNamesAreTokens(IHeaderDictionary headers)
    {
        foreach (var header in headers)
        {
            if (!IsToken(header.Key))
            {
                return false;
            }
        }

        return true;
    }
}
