using System.Text;

namespace Pathfinder.Signaling.Protocol;

/// <summary>
/// The one place that says what a client may name. Peer ids (the handshake's <c>id</c>, a message's <c>dst</c>) follow
/// the PeerJS client's own rule, <c>^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$</c> (<c>validateId</c>), at most
/// <see cref="MaxIdLength"/> characters (<c>Signaling:MaxIdLength</c>); tokens are 1 to <see cref="MaxTokenLength"/>
/// characters of letters, digits, <c>-</c>, <c>_</c>, <c>.</c> and <c>~</c> (the client's tokens are <c>[a-z0-9]</c>;
/// the set also holds base64url tokens such as <c>{expiry}.{signature}</c>). Anything a client sent that reaches a log
/// goes through <see cref="ForLog"/>.
/// </summary>
public sealed class PeerIdRules
{
    public const int MaxTokenLength = 64;

    /// <summary>Longest client-supplied value written to a log, before the length note.</summary>
    public const int MaxLoggedLength = 80;

    public PeerIdRules(int maxIdLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIdLength, 1);
        MaxIdLength = maxIdLength;
        InvalidIdText = $"Invalid id provided: letters and digits, with single '-', '_' or ' ' between them, at most {maxIdLength} characters";
        InvalidId = ServerMessages.Error(InvalidIdText);
        InvalidDstText = $"Invalid dst: letters and digits, with single '-', '_' or ' ' between them, at most {maxIdLength} characters; the message was dropped";
        InvalidDst = ServerMessages.Error(InvalidDstText);
    }

    public int MaxIdLength { get; }

    /// <summary>The handshake's ERROR text for an id that breaks the rule.</summary>
    public string InvalidIdText { get; }

    /// <summary><c>{"type":"ERROR","payload":{"msg":InvalidIdText}}</c></summary>
    public ReadOnlyMemory<byte> InvalidId { get; }

    /// <summary>The ERROR text a sender gets for a message whose dst breaks the rule.</summary>
    public string InvalidDstText { get; }

    /// <summary><c>{"type":"ERROR","payload":{"msg":InvalidDstText}}</c></summary>
    public ReadOnlyMemory<byte> InvalidDst { get; }

    /// <summary>Whether <paramref name="id"/> is a peer id: the PeerJS client's rule, at most <see cref="MaxIdLength"/> characters.</summary>
    public bool IsValidId(ReadOnlySpan<char> id)
    {
        if (id.IsEmpty || id.Length > MaxIdLength)
        {
            return false;
        }

        // [A-Za-z0-9]+ runs joined by single separators: no separator first, last or twice in a row.
        var afterAlphanumeric = false;
        foreach (var c in id)
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                afterAlphanumeric = true;
            }
            else if (c is ' ' or '_' or '-' && afterAlphanumeric)
            {
                afterAlphanumeric = false;
            }
            else
            {
                return false;
            }
        }

        return afterAlphanumeric;
    }

    /// <summary>Whether <paramref name="token"/> is 1 to <see cref="MaxTokenLength"/> characters of <c>[A-Za-z0-9._~-]</c>.</summary>
    public static bool IsValidToken(ReadOnlySpan<char> token)
    {
        if (token.IsEmpty || token.Length > MaxTokenLength)
        {
            return false;
        }

        foreach (var c in token)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_' or '.' or '~'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A client-supplied value as it may appear in a log: control characters, separators that end lines, lone
    /// surrogates and backslashes escaped (<c>\n</c>, <c>\u0001</c>, <c>\\</c>), at most <see cref="MaxLoggedLength"/>
    /// characters of it followed by <c>…(N chars)</c>. Null stays null.
    /// </summary>
    public static string? ForLog(string? value)
    {
        if (value is null)
        {
            return null;
        }

        var shown = value.AsSpan(0, Math.Min(value.Length, MaxLoggedLength));
        if (shown.Length == value.Length && !NeedsEscaping(shown))
        {
            return value;
        }

        var text = new StringBuilder(shown.Length + 16);
        for (var i = 0; i < shown.Length; i++)
        {
            var c = shown[i];
            if (char.IsHighSurrogate(c) && i + 1 < shown.Length && char.IsLowSurrogate(shown[i + 1]))
            {
                text.Append(c).Append(shown[++i]);
                continue;
            }

            switch (c)
            {
                case '\\':
                    text.Append(@"\\");
                    break;
                case '\n':
                    text.Append(@"\n");
                    break;
                case '\r':
                    text.Append(@"\r");
                    break;
                case '\t':
                    text.Append(@"\t");
                    break;
                default:
                    if (IsUnsafe(c))
                    {
                        text.Append(@"\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }

                    break;
            }
        }

        if (shown.Length < value.Length)
        {
            text.Append("…(").Append(value.Length).Append(" chars)");
        }

        return text.ToString();
    }

    private static bool NeedsEscaping(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (c == '\\' || IsUnsafe(c))
            {
                return true;
            }
        }

        return false;
    }

    // Control characters (C0, DEL, C1), line and paragraph separators, and any surrogate (pairs are let through above).
    private static bool IsUnsafe(char c) =>
        char.IsControl(c) || c is '\u2028' or '\u2029' || char.IsSurrogate(c);
}
