using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// A real Garnet (Microsoft's RESP server) owned by the test: the <c>garnet-server</c> .NET tool of the repository's
/// tool manifest (the one the AppHost falls back to), started as <c>dotnet tool run garnet-server -- --port P
/// --bind 127.0.0.1 --lua true</c> and stopped by PID (its whole process tree). Garnet does not report a port it
/// picked itself, so a candidate port is tried and, when the bind fails (Garnet says so and exits), another one:
/// readiness is Garnet's own "Ready to accept connections" line, so a server that someone else runs on the same port
/// is never mistaken for ours.
/// </summary>
public sealed class GarnetServer : IAsyncDisposable
{
    /// <summary>How many ports are tried before giving up.</summary>
    public const int Attempts = 5;

    /// <summary>How long one start may take (the first JIT of Garnet's assemblies takes a few seconds).</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private static readonly SemaphoreSlim RestoreOnce = new(1, 1);
    private static bool s_restored;

    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    private GarnetServer(int port) => Port = port;

    public int Port { get; }

    /// <summary>The connection string a replica gets as ConnectionStrings:redis.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>What Garnet printed (stdout and stderr), for failure messages.</summary>
    public IEnumerable<string> Output => _output;

    public static Task<GarnetServer> StartAsync(CancellationToken cancellationToken = default) =>
        StartAsync(Ports.Candidate, cancellationToken);

    /// <summary>Starts Garnet on the first of <paramref name="candidatePorts"/>' ports that it can bind.</summary>
    public static async Task<GarnetServer> StartAsync(Func<int> candidatePorts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(candidatePorts);
        await EnsureToolAsync(cancellationToken);
        var failures = new List<string>();
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var server = new GarnetServer(candidatePorts());
            if (await server.TryStartAsync(cancellationToken))
            {
                return server;
            }

            failures.Add($"port {server.Port}: {string.Join(" | ", server.Output.TakeLast(3))}");
            await server.DisposeAsync();
        }

        throw new InvalidOperationException($"garnet-server did not start in {Attempts} attempts:\n{string.Join('\n', failures)}");
    }

    /// <summary>The directory of the repository's tool manifest (.config/dotnet-tools.json) above the test binaries.</summary>
    public static string ManifestRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, ".config", "dotnet-tools.json")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no .config/dotnet-tools.json above {AppContext.BaseDirectory}");
    }

    private static string Dotnet() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>
    /// <c>dotnet tool restore</c> once per test process: instant when the tool is in the NuGet cache (scripts/test.sh
    /// restores it outside the network namespace, which has no route to NuGet).
    /// </summary>
    private static async Task EnsureToolAsync(CancellationToken cancellationToken)
    {
        await RestoreOnce.WaitAsync(cancellationToken);
        try
        {
            if (s_restored)
            {
                return;
            }

            var info = new ProcessStartInfo(Dotnet(), ["tool", "restore"])
            {
                WorkingDirectory = ManifestRoot(),
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet tool restore did not start");
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(3));
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"dotnet tool restore failed ({process.ExitCode}); run it outside the network namespace first:\n{await stdout}\n{await stderr}");
            }

            s_restored = true;
        }
        finally
        {
            RestoreOnce.Release();
        }
    }

    private async Task<bool> TryStartAsync(CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(Dotnet())
        {
            WorkingDirectory = ManifestRoot(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "tool", "run", "garnet-server", "--", "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--lua", "true", "--lua-transaction-mode", "true" })
        {
            info.ArgumentList.Add(arg);
        }

        var outcome = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            _output.Enqueue(line);
            if (line.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                outcome.TrySetResult(true);
            }
            else if (line.Contains("Unable to initialize server", StringComparison.Ordinal) || line.Contains("Could not bind", StringComparison.Ordinal))
            {
                outcome.TrySetResult(false);
            }
        }

        _process = new Process { StartInfo = info, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.Exited += (_, _) => outcome.TrySetResult(false);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        bool ready;
        try
        {
            ready = await outcome.Task.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _output.Enqueue($"no \"Ready to accept connections\" within {StartTimeout.TotalSeconds:0} s");
            return false;
        }

        return ready && !_process.HasExited && await RedisServer.PingAsync(Port);
    }

    /// <summary>Kills Garnet and the <c>dotnet tool run</c> in front of it, as a crash or an outage would.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(cts.Token);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
