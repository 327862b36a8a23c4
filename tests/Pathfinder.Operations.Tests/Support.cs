using System.Diagnostics;
using System.Net;

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

internal sealed record RunResult(int ExitCode, string Stdout, string Stderr)
{
    public string Output => Stdout + Stderr;

    public override string ToString() => $"exit code {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs a command to its end with a bounded wait; on timeout the whole process tree is killed.</summary>
internal static class Run
{
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

    /// <summary>The start info with the cleaned environment (<see cref="ChildProcess.Prepare"/>), in the repository root unless told otherwise.</summary>
    public static ProcessStartInfo Prepare(string file, IEnumerable<string> args, IDictionary<string, string?>? environment, string? workingDirectory) =>
        ChildProcess.Prepare(file, args, environment, workingDirectory ?? Repo.Root);

    /// <summary>
    /// Starts the service as <paramref name="file"/> <paramref name="args"/> would on a candidate PEERJS_PORT and waits
    /// (bounded) until <paramref name="ready"/> says it serves; when it reports the port taken, it is started again on
    /// another. Fails with its output if it exits or never becomes ready.
    /// </summary>
    public static Task<Serving> ServeAsync(
        string file, IEnumerable<string> args, IDictionary<string, string?> environment, string workingDirectory, Func<int, Task<bool>> ready) =>
        Ports.StartWithRetryAsync<Serving>(async port =>
        {
            var settings = new Dictionary<string, string?>(environment, StringComparer.Ordinal)
            {
                ["PEERJS_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            var running = Start(Prepare(file, args, settings, workingDirectory));
            var process = running.Process;
            if (await Poll.UntilAsync(async () => process.HasExited || await ready(port), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200))
                && !process.HasExited)
            {
                return new Serving(running, port);
            }

            var exit = process.HasExited ? $"the service exited with code {process.ExitCode}" : "the service never became ready";
            await running.DisposeAsync();
            var stderr = await running.Stderr;
            if (stderr.Contains($"port {port} is already in use", StringComparison.Ordinal))
            {
                return null;
            }

            throw new InvalidOperationException($"{exit}:\n{await running.Stdout}\n{stderr}");
        });
}

/// <summary>The service started by <see cref="Run.ServeAsync"/> and the port it serves on.</summary>
internal sealed record Serving(Background Running, int Port);

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

        // Bounded: the exit, then the output to its end (read before the process and its pipes are disposed).
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
        await Task.WhenAll(stdout, stderr).WaitAsync(cts.Token);
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

    public static Task<bool> WaitGoneAsync(int pid, TimeSpan timeout) => Poll.UntilAsync(() => !Alive(pid), timeout);

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
