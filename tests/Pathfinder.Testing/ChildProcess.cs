using System.Diagnostics;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// How every test starts a child process (the service, the management script, redis-server): no shell, and an
/// environment that does not inherit the settings that would change the child's meaning — the test sets what it means.
/// </summary>
public static class ChildProcess
{
    /// <summary>Variable prefixes never inherited from the test's own environment.</summary>
    private static readonly string[] ClearedPrefixes =
        ["ASPNETCORE_", "DOTNET_ENVIRONMENT", "DOTNET_URLS", "OTEL_", "Signaling__", "Logging__", "ConnectionStrings__", "Pathfinder__", "SIGNALING_", "LOG_FORMAT"];

    private static readonly HashSet<string> ServiceVariables = new(
        SignalingConfiguration.EnvironmentAliases.Select(a => a.Variable), StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The start info with the cleaned environment: inherited service settings removed, then
    /// <paramref name="environment"/> applied (a null value removes the variable).
    /// </summary>
    public static ProcessStartInfo Prepare(string file, IEnumerable<string> args, IDictionary<string, string?>? environment, string? workingDirectory)
    {
        var info = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var name in info.Environment.Keys.ToList())
        {
            if (ServiceVariables.Contains(name) || ClearedPrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase)))
            {
                info.Environment.Remove(name);
            }
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        return info;
    }
}
