namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// The process's open-file limit and the caps derived from it. Every WebSocket is a file descriptor: a server that
/// accepts past the limit fails on EMFILE (a bare .NET relay was seen dying with "Out of memory" there), so the
/// service stops registering new peers below the limit, answers the rest with the protocol's concurrent-limit ERROR,
/// and has Kestrel close connections outright before the descriptors run out.
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

    /// <summary>Descriptors this process has open now (runtime, assemblies, logs, listening sockets), or 0 if unknown.</summary>
    public static int OpenDescriptors(string directory = "/proc/self/fd")
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(directory).Count();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>This process's limit and the descriptors it already used, read once (at start-up).</summary>
    public static (long? Limit, int InUse) Budget => LazyBudget.Value;

    private static readonly Lazy<(long? Limit, int InUse)> LazyBudget = new(() => (Read(), OpenDescriptors()));

    /// <summary>
    /// Peers this process can hold: <see cref="ConnectionCap"/> minus room for sockets being refused (0.5 %, at least
    /// 64), which get the concurrent-limit ERROR. Null when the limit is unknown.
    /// </summary>
    public static int? DerivedCap(long? openFiles, int inUse = 0) =>
        ConnectionCap(openFiles, inUse) is { } connections && openFiles is { } limit
            ? (int)Math.Max(1, connections - Math.Max(64, limit / 200))
            : null;

    /// <summary>
    /// Connections Kestrel may hold at once (peers, sockets being refused, HTTP requests): the soft limit minus the
    /// descriptors in use at start and room for what the process opens later (0.5 %, at least 120: assemblies loaded on
    /// first use, Redis, logs). Above it Kestrel closes new connections at once, so the process does not run out of
    /// descriptors: an accept failing with EMFILE is retried at once and, with socket completions inline, keeps a socket
    /// thread from serving anything else (the bare .NET relay's "Out of memory"). Null when the limit is unknown.
    /// </summary>
    public static int? ConnectionCap(long? openFiles, int inUse = 0) =>
        openFiles is { } limit && limit > 0 ? (int)Math.Clamp(limit - inUse - Math.Max(120, limit / 200), 1, int.MaxValue) : null;
}
