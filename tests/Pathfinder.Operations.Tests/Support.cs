using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Operations.Tests;

/// <summary>The repository these tests check: its root (where Pathfinder.sln is) and its files.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string File(string relativePath) => Path.Combine(Root, relativePath);

    public static string Read(string relativePath) => System.IO.File.ReadAllText(File(relativePath));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "Pathfinder.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Pathfinder.sln not found above " + AppContext.BaseDirectory);
    }
}

internal static class Ports
{
    /// <summary>A loopback port that was free a moment ago.</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Whether nothing listens on the port (any address).</summary>
    public static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
            socket.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

internal sealed record RunResult(int ExitCode, string Stdout, string Stderr)
{
    public string Output => Stdout + Stderr;

    public override string ToString() => $"exit code {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs a command to its end with a bounded wait; on timeout the whole process tree is killed.</summary>
internal static class Run
{
    /// <summary>
    /// Variables that would change what the service or the AppHost does; never inherited from the test's own
    /// environment (the caller sets what it means).
    /// </summary>
    private static readonly string[] ClearedPrefixes =
        ["ASPNETCORE_", "DOTNET_ENVIRONMENT", "DOTNET_URLS", "OTEL_", "Signaling__", "Logging__", "ConnectionStrings__", "Pathfinder__", "SIGNALING_", "LOG_FORMAT"];

    public static async Task<RunResult> Async(
        string file, IEnumerable<string> args, IDictionary<string, string?>? environment = null, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var info = Prepare(file, args, environment, workingDirectory);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        using var process = Process.Start(info) ?? throw new InvalidOperationException(file + " did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', info.ArgumentList)} did not finish within {timeout ?? TimeSpan.FromSeconds(60)}");
        }

        return new RunResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts a long-running process with its output captured; disposing it kills the whole tree.</summary>
    public static Background Start(ProcessStartInfo info)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        var process = Process.Start(info) ?? throw new InvalidOperationException(info.FileName + " did not start");
        return new Background(process, process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
    }

    /// <summary>The start info with the cleaned environment: inherited service settings removed, then <paramref name="environment"/> applied (null removes).</summary>
    public static ProcessStartInfo Prepare(string file, IEnumerable<string> args, IDictionary<string, string?>? environment, string? workingDirectory)
    {
        var info = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repo.Root,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var serviceVariables = SignalingConfiguration.EnvironmentAliases.Select(a => a.Variable).ToHashSet(StringComparer.Ordinal);
        foreach (var name in info.Environment.Keys.ToList())
        {
            if (serviceVariables.Contains(name) || ClearedPrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase)))
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

/// <summary>A process started by <see cref="Run.Start"/>: its output (complete once it exited) and a kill on dispose.</summary>
internal sealed class Background(Process process, Task<string> stdout, Task<string> stderr) : IAsyncDisposable
{
    public Process Process => process;

    public Task<string> Stdout => stdout;

    public Task<string> Stderr => stderr;

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        await process.WaitForExitAsync();
        process.Dispose();
    }
}

/// <summary>Processes by PID, as the management script sees them (/proc).</summary>
internal static class Pids
{
    /// <summary>Alive and not a zombie.</summary>
    public static bool Alive(int pid)
    {
        try
        {
            var stat = System.IO.File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static async Task<bool> WaitGoneAsync(int pid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Alive(pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }

    /// <summary>Cleanup: SIGKILL a process this test started (directly or through the script), if it is still there.</summary>
    public static void Kill(int pid)
    {
        if (!Alive(pid))
        {
            return;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
        catch (ArgumentException)
        {
        }
        catch (InvalidOperationException)
        {
        }
    }
}

internal static class Http
{
    private static readonly HttpClient Client = new() { Timeout = TimeSpan.FromSeconds(5) };

    public static async Task<(HttpStatusCode Status, string Body)> GetAsync(string url)
    {
        using var response = await Client.GetAsync(new Uri(url));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
