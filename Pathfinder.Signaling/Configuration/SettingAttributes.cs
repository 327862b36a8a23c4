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
