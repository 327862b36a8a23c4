using Microsoft.Extensions.Configuration;

namespace Pathfinder.GrafanaDev;

/// <summary>Finds a program on PATH the way a shell would (PATHEXT on Windows).</summary>
public static class ExecutableLocator
{
    /// <summary>
    /// The PATH the AppHost searches for the tools it checks (node, go, mage, redis-server): the configuration's
    /// <c>PATH</c>, which is the environment variable unless given on the command line (the tests point it at a
    /// folder of stand-in tools).
    /// </summary>
    public static string? SearchPath(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return configuration["PATH"];
    }

    /// <summary>
    /// The full path of <paramref name="name"/> on <paramref name="searchPath"/> (the process' PATH when null), or null.
    /// </summary>
    public static string? Find(string name, string? searchPath = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Path.IsPathRooted(name))
        {
            return File.Exists(name) ? name : null;
        }

        var extensions = OperatingSystem.IsWindows()
            ? (Environment.GetEnvironmentVariable("PATHEXT") ?? ".EXE;.CMD;.BAT").Split(';', StringSplitOptions.RemoveEmptyEntries)
            : [string.Empty];
        var path = searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var extension in extensions)
            {
                var candidate = Path.Combine(directory, name + extension);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
