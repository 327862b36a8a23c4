using System.ComponentModel;
using System.Diagnostics;

namespace Pathfinder.AppHost;

/// <summary>Runs a short command line the AppHost asks before it builds its model (a runtime probe, a tool restore), bounded in time.</summary>
internal static class BoundedProcess
{
    /// <summary>
    /// Runs <paramref name="program"/> and waits at most <paramref name="timeout"/> (then kills it). Returns its exit code
    /// (null: not installed, did not start, or no answer in time) and the first line it printed (standard error first),
    /// or why there is no exit code. Both pipes are drained, so a chatty command cannot block on a full buffer.
    /// </summary>
    public static (int? ExitCode, string Output) Run(string program, string[] arguments, TimeSpan timeout, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        try
        {
            using var process = Process.Start(start);
            if (process is null)
            {
                return (null, $"{program} did not start");
            }

            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return (null, $"no answer within {timeout.TotalSeconds:0} s");
            }

            var text = (stderr.Result + "\n" + stdout.Result).Trim();
            var first = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? string.Empty;
            return (process.ExitCode, first);
        }
        catch (Win32Exception ex)
        {
            return (null, ex.Message); // not installed
        }
    }
}
