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
}

/// <summary>A budget that must hold at least the value of another setting (a byte budget at least one largest message).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class AtLeastAttribute(string setting) : Attribute
{
    public string Setting { get; } = setting;
}
