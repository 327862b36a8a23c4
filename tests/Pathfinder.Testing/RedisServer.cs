using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// A real redis-server (Debian package) on a loopback port, owned by the test: started with its own settings (no
/// persistence), stopped by PID, restartable on the same port. Without a port given, it starts on a candidate port
/// and, when redis-server reports it taken, on another (<see cref="Ports.StartWithRetryAsync{T}"/>).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;
    private readonly List<string> _output = [];

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    /// <summary>The connection string a replica gets as ConnectionStrings:redis.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>
    /// Starts a server. With <paramref name="port"/> (e.g. one the test <see cref="Ports.Reserve">held</see> until
    /// now) it must bind that port; without, it tries candidate ports until one binds.
    /// </summary>
    public static async Task<RedisServer> StartAsync(int? port = null)
    {
        if (port is { } fixedPort)
        {
            var server = new RedisServer(fixedPort);
            await server.StartAsync();
            return server;
        }

        return await Ports.StartWithRetryAsync<RedisServer>(async candidate =>
        {
            var server = new RedisServer(candidate);
            return await server.TryStartAsync() ? server : null;
        });
    }

    /// <summary>(Re)starts the server on its port; fails if the port is taken.</summary>
    public async Task StartAsync()
    {
        if (!await TryStartAsync())
        {
            throw new InvalidOperationException($"redis-server could not bind port {Port}: it is in use\n{string.Join('\n', Output())}");
        }
    }

    /// <summary>False when redis-server reported its port in use (and exited); true once it answers PING.</summary>
    private async Task<bool> TryStartAsync()
    {
        if (IsRunning)
        {
            return true;
        }

        var executable = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : "redis-server";
        var info = ChildProcess.Prepare(
            executable,
            ["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning"],
            null,
            null);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        lock (_output)
        {
            _output.Clear();
        }

        try
        {
            _process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed: apt-get install -y redis-server", ex);
        }

        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var process = _process;
        if (await Poll.UntilAsync(async () => process.HasExited || await PingAsync(), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20))
            && !process.HasExited)
        {
            return true;
        }

        await StopAsync();
        if (Output().Any(line => line.Contains("Address already in use", StringComparison.Ordinal)))
        {
            return false;
        }

        throw new InvalidOperationException($"redis-server on port {Port} did not answer PING\n{string.Join('\n', Output())}");
    }

    private void Keep(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.Add(line);
            }
        }
    }

    private List<string> Output()
    {
        lock (_output)
        {
            return [.. _output];
        }
    }

    /// <summary>Kills the server (no shutdown save), as a crash or an outage would.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        // Also waits for the redirected output to reach its end (the reason it exited, if it did by itself).
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _process.WaitForExitAsync(cts.Token);

        _process.Dispose();
        _process = null;
    }

    /// <summary>
    /// Freezes the server (SIGSTOP): connections stay open and commands queue up unanswered, as in a stall. Always
    /// pair with <see cref="Resume"/> (in a finally).
    /// </summary>
    public void Pause() => Signal("STOP");

    /// <summary>Lets a paused server run again (SIGCONT): it then answers everything that queued up meanwhile.</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        var process = _process ?? throw new InvalidOperationException("redis-server is not running");
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("kill did not start");
        if (!kill.WaitForExit(10_000) || kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {process.Id} failed");
        }
    }

    public Task<bool> PingAsync() => PingAsync(Port);

    /// <summary>True when a RESP server on the loopback <paramref name="port"/> answers PING with PONG within a second.</summary>
    public static async Task<bool> PingAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync(IPAddress.Loopback, port, cts.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), cts.Token);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, cts.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
