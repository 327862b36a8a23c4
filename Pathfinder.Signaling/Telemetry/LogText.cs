using System.Text;

namespace Pathfinder.Signaling.Telemetry;

/// <summary>Client-chosen text made safe for a log line.</summary>
internal static class LogText
{
    private const int MaxLength = 200;

    /// <summary>
    /// <paramref name="value"/> with control characters written as <c>\uXXXX</c> (no line breaks or terminal escapes
    /// reach the log) and cut after 200 characters. Returns the same string when there is nothing to change.
    /// </summary>
    public static string Escape(string value)
    {
        var clean = value.Length <= MaxLength;
        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                clean = false;
                break;
            }
        }

        if (clean)
        {
            return value;
        }

        var text = new StringBuilder(Math.Min(value.Length, MaxLength) + 8);
        foreach (var c in value.AsSpan(0, Math.Min(value.Length, MaxLength)))
        {
            if (char.IsControl(c))
            {
                text.Append(@"\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append(c);
            }
        }

        if (value.Length > MaxLength)
        {
            text.Append('…');
        }

        return text.ToString();
    }
}
