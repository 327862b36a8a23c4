using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// A real redis-server (Debian package) on a free loopback port, owned by the test: started with its own settings
/// (no persistence), stopped by PID, restartable on the same port.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    /// <summary>The connection string a replica gets as ConnectionStrings:redis.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    public static async Task<RedisServer> StartAsync(int? port = null)
    {
        var server = new RedisServer(port ?? FreePort());
        await server.StartAsync();
        return server;
    }

    /// <summary>A loopback port nobody listens on right now.</summary>
    public static int FreePort() => ServiceProcess.FreePort();

    public async Task StartAsync()
    {
        if (IsRunning)
        {
            return;
        }

        var executable = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : "redis-server";
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning" })
        {
            info.ArgumentList.Add(arg);
        }

        try
        {
            _process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed: apt-get install -y redis-server", ex);
        }

        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await PingAsync())
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"redis-server on port {Port} did not answer PING");
            }

            await Task.Delay(20);
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
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }

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
