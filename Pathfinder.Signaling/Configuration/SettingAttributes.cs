using System.Globalization;

namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// The seed's environment variable for a <see cref="SignalingOptions"/> setting (<c>PEERJS_PORT</c> for
/// <c>Signaling:Port</c>); <see cref="SeedEnvironmentVariables"/> maps it onto the section, where it wins.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class EnvironmentVariableAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>
/// What a whole-number setting accepts, for the check at start and its message: at least <see cref="Min"/>, at most
/// <see cref="Max"/> (the type's largest value when omitted), counted in <see cref="Unit"/> (milliseconds, bytes, …),
/// with a <see cref="Note"/> on special values (<c>0 = no limit</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class WholeNumberAttribute(long min, long max = long.MaxValue) : Attribute
{
    public long Min { get; } = min;

    public long Max { get; } = max;

    /// <summary>Plural unit in the message: "a whole number of {Unit}".</summary>
    public string? Unit { get; set; }

    /// <summary>Shown in parentheses after the range.</summary>
    public string? Note { get; set; }

    /// <summary>
    /// The problem with a setting of <paramref name="type"/> (int or long) named <paramref name="name"/>: checked from
    /// the text the operator wrote when there is one (a value the binder could not convert is reported, not defaulted),
    /// else from <paramref name="value"/>; null when it is in range.
    /// </summary>
    public string? Problem(string name, Type type, string? text, object? value)
    {
        var max = Math.Min(Max, type == typeof(int) ? int.MaxValue : long.MaxValue);
        long? number = text is null ? Convert.ToInt64(value, CultureInfo.InvariantCulture)
            : long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed) ? parsed : null;
        if (number >= Min && number <= max)
        {
            return null;
        }

        var what = Unit is null ? "a whole number" : $"a whole number of {Unit}";
        var allowed = max == (type == typeof(int) ? int.MaxValue : long.MaxValue) ? $"≥ {Min}" : $"between {Min} and {max}";
        var note = Note is null ? null : $" ({Note})";
        return $"{name} must be {what} {allowed}{note}, got '{text ?? Convert.ToString(value, CultureInfo.InvariantCulture)}'";
    }
}

/// <summary>A budget that must hold at least the value of another setting (a byte budget at least one largest message).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class AtLeastAttribute(string setting) : Attribute
{
    public string Setting { get; } = setting;
}

/// <summary>
/// A name that travels in Redis keys, channels and HTTP headers: 1 to <see cref="MaxLength"/> characters of
/// <c>A–Z a–z 0–9 . _ : -</c>; empty is allowed (the default applies) when <see cref="Optional"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class WordAttribute(int maxLength) : Attribute
{
    public int MaxLength { get; } = maxLength;

    public bool Optional { get; set; }

    public string? Problem(string name, string? value)
    {
        if (string.IsNullOrEmpty(value) && Optional)
        {
            return null;
        }

        var ok = !string.IsNullOrEmpty(value) && value.Length <= MaxLength
            && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-');
        return ok ? null
            : $"{name} must be 1 to {MaxLength} characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'{(Optional ? " (or empty for a random one)" : null)}, got '{Protocol.PeerIdRules.ForLog(value ?? string.Empty)}'";
    }
}
