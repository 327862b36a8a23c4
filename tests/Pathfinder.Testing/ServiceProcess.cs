using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// The real service as an operator runs it — <c>dotnet Pathfinder.Signaling.dll</c> from the build output, configured
/// by environment variables only — with stdout and stderr kept apart, for what an in-process host cannot show: the
/// exit code, the exact stderr line, the banner and the console log format. Every wait is bounded; the process is
/// killed on dispose.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly SemaphoreSlim _changed = new(0);

    private ServiceProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Add(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Add(_stderr, e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public IReadOnlyList<string> Stdout => Snapshot(_stdout);

    public IReadOnlyList<string> Stderr => Snapshot(_stderr);

    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// Starts the service. Variables that would change the test's meaning (URLs, environment, OTLP) are removed from
    /// the inherited environment first; <paramref name="environment"/> sets the rest (null removes a variable).
    /// </summary>
    public static ServiceProcess Start(IDictionary<string, string?> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Pathfinder.Signaling.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var name in info.Environment.Keys.ToList())
        {
            if (name.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("DOTNET_ENVIRONMENT", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("OTEL_", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("Signaling__", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("Logging__", StringComparison.OrdinalIgnoreCase)
                || SignalingAliases.Contains(name))
            {
                info.Environment.Remove(name);
            }
        }

        foreach (var (name, value) in environment)
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

        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        var service = new ServiceProcess(process);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => service._changed.Release();
        return service;
    }

    /// <summary>Runs the service until it exits by itself (start-up failures, commands).</summary>
    public static async Task<ServiceProcess> RunToExitAsync(IDictionary<string, string?> environment, params string[] args)
    {
        var service = Start(environment, args);
        await service.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return service;
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        // Also waits for the redirected streams to reach their end.
        await _process.WaitForExitAsync(cts.Token);
    }

    /// <summary>Waits until a stdout line satisfies <paramref name="predicate"/>; fails if the process exits first.</summary>
    public async Task<string> WaitForStdoutAsync(Func<string, bool> predicate, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            if (Stdout.FirstOrDefault(predicate) is { } line)
            {
                return line;
            }

            if (_process.HasExited)
            {
                await WaitForExitAsync(TimeSpan.FromSeconds(10));
                return Stdout.FirstOrDefault(predicate) ?? throw new InvalidOperationException(
                    $"the service exited ({ExitCode}) first.\nstdout:\n{string.Join('\n', Stdout)}\nstderr:\n{string.Join('\n', Stderr)}");
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await _changed.WaitAsync(left))
            {
                throw new TimeoutException($"no such stdout line within the timeout.\nstdout:\n{string.Join('\n', Stdout)}");
            }
        }
    }

    /// <summary>A TCP port that is free now (the OS picks it).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits (bounded) until <c>GET {path}</c> on the port answers 200; fails if the process exits first.</summary>
    public async Task WaitUntilServingAsync(int port, string path = "/pathfinder", TimeSpan? timeout = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the service exited ({ExitCode}):\n{string.Join('\n', Stdout.Concat(Stderr))}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the service did not answer on port {port}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Kills the process at once: no graceful shutdown, no cleanup (a crash).</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await _process.WaitForExitAsync(cts.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private static readonly HashSet<string> SignalingAliases = new(
        Pathfinder.Signaling.Configuration.SignalingConfiguration.EnvironmentAliases.Select(a => a.Variable).Append("LOG_FORMAT"),
        StringComparer.OrdinalIgnoreCase);

    private void Add(List<string> lines, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (lines)
        {
            lines.Add(line);
        }

        _changed.Release();
    }

    private static IReadOnlyList<string> Snapshot(List<string> lines)
    {
        lock (lines)
        {
            return [.. lines];
        }
    }
}
