namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// The process's open-file limit and the socket cap derived from it. Every WebSocket is a file descriptor: a
/// server that accepts past the limit fails on EMFILE (a bare .NET relay was seen dying with "Out of memory" there),
/// so the service stops registering new peers with a margin left for Redis, logs, HTTP requests and handshakes in
/// flight, and answers the rest with the protocol's concurrent-limit ERROR.
/// </summary>
public static class OpenFileLimit
{
    /// <summary>The soft RLIMIT_NOFILE, or null when it cannot be read (not Linux) or is unlimited.</summary>
    public static long? Read(string limitsFile = "/proc/self/limits")
    {
        try
        {
            foreach (var line in File.ReadLines(limitsFile))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    continue;
                }

                var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return fields.Length > 0 && long.TryParse(fields[0], out var soft) ? soft : null;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>
    /// Peers this process can hold: the soft limit minus a margin of 2 % (at least 128 descriptors) for everything
    /// that is not a peer socket. Null when the limit is unknown.
    /// </summary>
    public static int? DerivedCap(long? openFiles)
    {
        if (openFiles is not { } limit || limit <= 0)
        {
            return null;
        }

        var margin = Math.Max(128, limit / 50);
        return (int)Math.Clamp(limit - margin, 1, int.MaxValue);
    }
}
