using System.Diagnostics;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// The signaling service as a real separate process (<c>dotnet Pathfinder.Signaling.dll</c>), for what an in-process
/// host cannot show: a replica killed with no cleanup, the process's exit code and its console lines.
/// </summary>
public sealed class SignalingProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private SignalingProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Port { get; }

    public Uri HttpBase => new($"http://127.0.0.1:{Port}");

    public Uri SocketUri => new($"ws://127.0.0.1:{Port}/pathfinder/peerjs");

    public IReadOnlyList<string> Output
    {
        get
        {
            lock (_output)
            {
                return [.. _output];
            }
        }
    }

    public static string ServiceDll => Path.Combine(AppContext.BaseDirectory, "Pathfinder.Signaling.dll");

    /// <summary>Starts the service with the given environment and waits until <c>GET /pathfinder</c> answers.</summary>
    public static async Task<SignalingProcess> StartAsync(IDictionary<string, string> environment, int? port = null)
    {
        var process = Launch(environment, port ?? RedisServer.FreePort(), out var chosen);
        var service = new SignalingProcess(process, chosen);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException("the service exited: " + string.Join('\n', service.Output));
            }

            try
            {
                using var response = await http.GetAsync(new Uri(service.HttpBase, "/pathfinder"));
                if (response.IsSuccessStatusCode)
                {
                    return service;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                await service.DisposeAsync();
                throw new TimeoutException("the service did not answer within 30 s");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Runs the service to its exit (for start-up failures) and returns the exit code and output.</summary>
    public static async Task<(int ExitCode, IReadOnlyList<string> Output)> RunToExitAsync(IDictionary<string, string> environment, TimeSpan timeout)
    {
        var process = Launch(environment, RedisServer.FreePort(), out var port);
        await using var service = new SignalingProcess(process, port);
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        process.WaitForExit(); // flush the redirected output
        return (process.ExitCode, service.Output);
    }

    private static Process Launch(IDictionary<string, string> environment, int port, out int chosen)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(ServiceDll);
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        info.Environment["DOTNET_ENVIRONMENT"] = "Development";
        info.Environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        chosen = port;
        return Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Add(line);
        }
    }

    /// <summary>Kills the process at once: no graceful shutdown, no cleanup (a crash).</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }
}
