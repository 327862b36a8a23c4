using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Primitives;

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
/// What Kestrel and the HTTP pipeline allow in a request head, as the fast path must respect it: Kestrel's
/// <see cref="KestrelServerLimits.MaxRequestLineSize"/>, <see cref="KestrelServerLimits.MaxRequestHeadersTotalSize"/>
/// and <see cref="KestrelServerLimits.MaxRequestHeaderCount"/>, and the hosts host filtering allows (the
/// <c>AllowedHosts</c> setting; null: any host). The fast path takes a head only when it is within all of them and
/// leaves every other connection to Kestrel, which then answers 400/414/431 itself, so both ways in enforce the same
/// limits from the same settings.
/// </summary>
public sealed record UpgradeHeadLimits(int MaxRequestLineBytes, int MaxHeaderBytes, int MaxHeaderCount, IList<StringSegment>? AllowedHosts)
{
    /// <summary>Kestrel's defaults, any host.</summary>
    public static UpgradeHeadLimits KestrelDefaults { get; } = From(new KestrelServerLimits(), null);

    public static UpgradeHeadLimits From(KestrelServerLimits limits, HostFilteringOptions? hostFiltering) => new(
        limits.MaxRequestLineSize, limits.MaxRequestHeadersTotalSize, limits.MaxRequestHeaderCount, AllowedHostsOf(hostFiltering));

    /// <summary>
    /// The allowed hosts as HostFilteringMiddleware prepares them (punycode via <see cref="HostString"/>, a top-level
    /// wildcard <c>*</c>, <c>[::]</c> or <c>0.0.0.0</c> turns filtering off); null when any host is allowed.
    /// </summary>
    public static IList<StringSegment>? AllowedHostsOf(HostFilteringOptions? options)
    {
        if (options?.AllowedHosts is not { Count: > 0 } hosts)
        {
            return null;
        }

        var allowed = new List<StringSegment>();
        foreach (var entry in hosts)
        {
            var host = new HostString(entry).ToUriComponent();
            if (host is "*" or "[::]" or "0.0.0.0")
            {
                return null;
            }

            if (!allowed.Contains(host, StringSegmentComparer.OrdinalIgnoreCase))
            {
                allowed.Add(host);
            }
        }

        return allowed;
    }

    /// <summary>Whether host filtering lets <paramref name="host"/> (a non-empty Host header) through.</summary>
    public bool AllowsHost(string host) => AllowedHosts is null || HostString.MatchesAny(host, AllowedHosts);
}

/// <summary>
/// The HTTP/1.1 request head of a WebSocket upgrade to <c>{path}/peerjs</c>, parsed straight from the connection's
/// first bytes (RFC 9112 §3-5, RFC 6455 §4.2.1). Only a plain, complete upgrade within Kestrel's limits
/// (<see cref="UpgradeHeadLimits"/>) is taken: anything unusual (another path or method, HTTP/1.0, obsolete line
/// folding, header names that are not RFC 9110 tokens, non-ASCII bytes, a body, duplicate Host or key, a Host outside
/// AllowedHosts, forwarded headers, a request line or head over Kestrel's limits) is left to Kestrel's HTTP stack,
/// which answers it as before.
/// </summary>
public sealed class UpgradeRequest
{
    /// <summary>Kestrel's default limit for the request headers (MaxRequestHeadersTotalSize).</summary>
    public const int MaxHeadBytes = 32 * 1024;

    internal UpgradeRequest(string? key, string? id, string? token, string? origin, string webSocketKey)
    {
        Key = key;
        Id = id;
        Token = token;
        Origin = origin;
        WebSocketKey = webSocketKey;
    }

    /// <summary>The <c>key</c> query parameter (the last one when repeated, as the reference); names match case-insensitively, as Request.Query.</summary>
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
    /// Looks at the bytes received so far, once, with Kestrel's default limits (a connection uses one
    /// <see cref="UpgradeHeadParser"/> across its reads instead). <paramref name="headLength"/> is the length of the
    /// head (with its blank line) when the result is <see cref="UpgradeHead.Ours"/>.
    /// </summary>
    public static UpgradeHead TryParse(in ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> requestLinePrefix, out UpgradeRequest? request, out int headLength) =>
        new UpgradeHeadParser(requestLinePrefix.ToArray(), UpgradeHeadLimits.KestrelDefaults).Advance(buffer, out request, out headLength);

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
}
