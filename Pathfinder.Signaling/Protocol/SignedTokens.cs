using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Pathfinder.Signaling.Protocol;

/// <summary>What <see cref="SignedTokens.Verify"/> found.</summary>
public enum TokenVerdict
{
    Valid,

    /// <summary>Not <c>{expiry}.{signature}</c>: no dot, a non-numeric or overlong expiry, a signature that is not 43 base64url characters.</summary>
    Malformed,

    /// <summary>Well formed, but not signed with this secret for this id (forged, or signed for another id).</summary>
    Forged,

    /// <summary>Signed for this id, but its expiry has passed.</summary>
    Expired,
}

/// <summary>
/// Signed peer tokens (opt-in: <c>PEERJS_TOKEN_SECRET</c> / <c>Signaling:TokenSecret</c>). A token is
/// <c>{expiry}.{signature}</c>: <c>expiry</c> is unix time in seconds (1 to <see cref="MaxExpiryDigits"/> ASCII
/// digits), <c>signature</c> is base64url without padding (43 characters) of HMAC-SHA256(secret, <c>{id}\n{expiry}</c>),
/// the secret being the UTF-8 bytes of the configured text (at least <see cref="MinSecretBytes"/>). A token is valid
/// while the current unix time is before its expiry. The signature is compared in constant time. Any backend that
/// knows the secret can mint tokens (docs/production.md); <c>Pathfinder.Signaling mint-token</c> does it here.
/// </summary>
public sealed class SignedTokens
{
    public const int MinSecretBytes = 32;

    /// <summary>An expiry has at most this many digits (unix seconds up to year 33658).</summary>
    public const int MaxExpiryDigits = 12;

    /// <summary>Base64url length of a 32-byte HMAC-SHA256 without padding.</summary>
    public const int SignatureLength = 43;

    /// <summary>The longest well-formed token.</summary>
    public const int MaxTokenLength = MaxExpiryDigits + 1 + SignatureLength;

    private readonly byte[] _secret;

    public SignedTokens(string secret)
    {
        if (SecretProblem(secret) is { } problem)
        {
            throw new ArgumentException(problem, nameof(secret));
        }

        _secret = Encoding.UTF8.GetBytes(secret);
    }

    /// <summary>Why <paramref name="secret"/> cannot sign tokens, or null. The secret itself is never part of the text.</summary>
    public static string? SecretProblem(string? secret)
    {
        var bytes = secret is null ? 0 : Encoding.UTF8.GetByteCount(secret);
        return bytes >= MinSecretBytes
            ? null
            : $"must be at least {MinSecretBytes} bytes of UTF-8 text (got {bytes}); generate one with `Pathfinder.Signaling --generate-key`";
    }

    /// <summary>The token for <paramref name="id"/> valid until <paramref name="expiryUnixSeconds"/>.</summary>
    public string Mint(string id, long expiryUnixSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(expiryUnixSeconds);
        var expiry = expiryUnixSeconds.ToString(CultureInfo.InvariantCulture);
        if (expiry.Length > MaxExpiryDigits)
        {
            throw new ArgumentOutOfRangeException(nameof(expiryUnixSeconds), $"an expiry has at most {MaxExpiryDigits} digits");
        }

        Span<char> signature = stackalloc char[SignatureLength];
        Sign(id, expiry, signature);
        return string.Concat(expiry, ".", signature);
    }

    /// <summary>Checks <paramref name="token"/> for <paramref name="id"/> at <paramref name="nowUnixSeconds"/>.</summary>
    public TokenVerdict Verify(string id, ReadOnlySpan<char> token, long nowUnixSeconds)
    {
        if (token.Length > MaxTokenLength)
        {
            return TokenVerdict.Malformed;
        }

        var dot = token.IndexOf('.');
        if (dot < 1 || dot > MaxExpiryDigits || token.Length - dot - 1 != SignatureLength)
        {
            return TokenVerdict.Malformed;
        }

        var expiry = token[..dot];
        var signature = token[(dot + 1)..];
        foreach (var c in expiry)
        {
            if (!char.IsAsciiDigit(c))
            {
                return TokenVerdict.Malformed;
            }
        }

        foreach (var c in signature)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_')
            {
                return TokenVerdict.Malformed; // padding, a second dot, base64 '+' '/' or anything else
            }
        }

        // Compared as text: a non-canonical encoding of the right bytes is not the signature either.
        Span<char> expected = stackalloc char[SignatureLength];
        Sign(id, expiry, expected);
        if (!CryptographicOperations.FixedTimeEquals(MemoryMarshalBytes(expected), MemoryMarshalBytes(signature)))
        {
            return TokenVerdict.Forged;
        }

        return long.Parse(expiry, NumberStyles.None, CultureInfo.InvariantCulture) > nowUnixSeconds
            ? TokenVerdict.Valid
            : TokenVerdict.Expired;
    }

    private void Sign(string id, ReadOnlySpan<char> expiry, Span<char> signature)
    {
        var message = Encoding.UTF8.GetBytes(string.Concat(id, "\n", expiry));
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_secret, message, mac);
        var written = Base64Url.EncodeToChars(mac, signature);
        System.Diagnostics.Debug.Assert(written == SignatureLength);
    }

    private static ReadOnlySpan<byte> MemoryMarshalBytes(ReadOnlySpan<char> chars) =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(chars);
}
