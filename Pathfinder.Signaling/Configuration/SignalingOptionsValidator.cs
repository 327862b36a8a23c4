namespace Pathfinder.Signaling.Configuration;

/// <summary>Checks the settings once at start; every problem is one clear line.</summary>
public static class SignalingOptionsValidator
{
    public static IReadOnlyList<string> Validate(SignalingOptions o)
    {
        var errors = new List<string>();
        void Range(string name, long value, long min, long max, string unit)
        {
            if (value < min || value > max)
            {
                errors.Add($"{name} must be a whole number of {unit} between {min} and {max}, got '{value}'");
            }
        }

        Range("Signaling:Port", o.Port, 1, 65535, "port");
        Range("Signaling:AliveTimeout", o.AliveTimeout, 1000, int.MaxValue, "milliseconds");
        Range("Signaling:ExpireTimeout", o.ExpireTimeout, 1, int.MaxValue, "milliseconds");
        Range("Signaling:ConcurrentLimit", o.ConcurrentLimit, 1, int.MaxValue, "peers");
        Range("Signaling:CleanupOutMsgs", o.CleanupOutMsgs, 10, int.MaxValue, "milliseconds");
        Range("Signaling:LivenessCheckInterval", o.LivenessCheckInterval, 10, int.MaxValue, "milliseconds");
        Range("Signaling:MaxMessageBytes", o.MaxMessageBytes, 128 * 1024, 64 * 1024 * 1024, "bytes");
        Range("Signaling:SendQueueCapacity", o.SendQueueCapacity, 16, 1_000_000, "messages");
        Range("Signaling:OfflineQueuePerPeer", o.OfflineQueuePerPeer, 1, 1_000_000, "messages");
        Range("Signaling:OfflineQueueTotalBytes", o.OfflineQueueTotalBytes, 1024, long.MaxValue, "bytes");
        if (string.IsNullOrEmpty(o.Key))
        {
            errors.Add("Signaling:Key must not be empty");
        }

        var path = o.Path ?? string.Empty;
        if (path.Contains('?') || path.Contains('#') || path.Contains(' ') || path.Contains("//", StringComparison.Ordinal))
        {
            errors.Add($"Signaling:Path must be a URL path such as /pathfinder, got '{path}'");
        }

        return errors;
    }
}
