using System.Diagnostics;
using System.Globalization;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// A real Redis Cluster on loopback: <c>primaries × (1 + replicasPerPrimary)</c> redis-servers in cluster mode, each
/// in its own temporary directory, joined with <c>redis-cli --cluster create … --cluster-replicas n --cluster-yes</c>.
/// Ports are taken by binding, not guessed free: each node is started on a random port (its bus on port + 10000) and,
/// should the port be taken, started again on another. A low <c>cluster-node-timeout</c> makes failover take about a
/// second; <c>cluster-replica-validity-factor 0</c> lets a replica always take over from a lost primary.
/// </summary>
public sealed class RedisClusterServer : IAsyncDisposable
{
    private readonly List<Node> _nodes = [];
    private readonly string _root = Path.Combine(Path.GetTempPath(), "pf-cluster-" + Guid.NewGuid().ToString("N")[..8]);

    private RedisClusterServer(int nodeTimeoutMs) => NodeTimeoutMs = nodeTimeoutMs;

    public int NodeTimeoutMs { get; }

    /// <summary>Every node's port (primaries and replicas, in start order).</summary>
    public IReadOnlyList<int> Ports => [.. _nodes.Select(n => n.Port)];

    /// <summary>The connection string a replica gets as ConnectionStrings:redis (every node as a seed).</summary>
    public string ConnectionString => string.Join(',', _nodes.Select(n => $"127.0.0.1:{n.Port}"));

    public static async Task<RedisClusterServer> StartAsync(int primaries = 3, int replicasPerPrimary = 1, int nodeTimeoutMs = 1000)
    {
        var cluster = new RedisClusterServer(nodeTimeoutMs);
        try
        {
            for (var i = 0; i < primaries * (1 + replicasPerPrimary); i++)
            {
                cluster._nodes.Add(await cluster.StartNodeAsync(i));
            }

            await RunCliAsync(["--cluster", "create", .. cluster._nodes.Select(n => $"127.0.0.1:{n.Port}"),
                "--cluster-replicas", replicasPerPrimary.ToString(CultureInfo.InvariantCulture), "--cluster-yes"]);
            await cluster.WaitUntilAsync(async () =>
            {
                foreach (var node in cluster._nodes)
                {
                    var info = await RunCliAsync(["-p", node.Port.ToString(CultureInfo.InvariantCulture), "cluster", "info"]);
                    if (!info.Contains("cluster_state:ok", StringComparison.Ordinal))
                    {
                        return false;
                    }
                }

                return true;
            }, TimeSpan.FromSeconds(30), "the cluster did not reach cluster_state:ok");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the node on <paramref name="port"/> (SIGKILL: a crash, no failover handshake).</summary>
    public async Task KillAsync(int port)
    {
        var node = _nodes.Single(n => n.Port == port);
        if (!node.Process.HasExited)
        {
            node.Process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await node.Process.WaitForExitAsync(cts.Token);
        }
    }

    /// <summary>The primaries and their slot ranges, per the node on <paramref name="askPort"/> (CLUSTER SLOTS).</summary>
    public static async Task<IReadOnlyList<(int Start, int End, int Port)>> SlotMapAsync(int askPort)
    {
        var shards = await RunCliAsync(["-p", askPort.ToString(CultureInfo.InvariantCulture), "cluster", "slots"]);
        // redis-cli prints the nested arrays one value a line: start, end, then host, port, id per node (primary first).
        var lines = shards.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var map = new List<(int, int, int)>();
        for (var i = 0; i + 3 < lines.Length; i++)
        {
            if (int.TryParse(lines[i], CultureInfo.InvariantCulture, out var start)
                && int.TryParse(lines[i + 1], CultureInfo.InvariantCulture, out var end)
                && lines[i + 2] == "127.0.0.1"
                && int.TryParse(lines[i + 3], CultureInfo.InvariantCulture, out var port))
            {
                map.Add((start, end, port));
                i += 3;
            }
        }

        return map;
    }

    /// <summary>The port of the primary that serves <paramref name="slot"/>, per the node on <paramref name="askPort"/>.</summary>
    public static async Task<int> PrimaryOfSlotAsync(int askPort, int slot) =>
        (await SlotMapAsync(askPort)).Where(r => r.Start <= slot && slot <= r.End).Select(r => r.Port).DefaultIfEmpty(-1).First();

    /// <summary>The slot of a key, as the cluster computes it (CRC16 of the hash tag or key, mod 16384).</summary>
    public static int SlotOf(string key) => HashSlot(key);

    private static int HashSlot(string key)
    {
        var open = key.IndexOf('{', StringComparison.Ordinal);
        if (open >= 0)
        {
            var close = key.IndexOf('}', open + 1);
            if (close > open + 1)
            {
                key = key[(open + 1)..close];
            }
        }

        ushort crc = 0;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(key))
        {
            crc ^= (ushort)(b << 8);
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
            }
        }

        return crc % 16384;
    }

    /// <summary>Polls <paramref name="condition"/> every 50 ms until it holds, or fails with <paramref name="what"/>.</summary>
    public async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"{what} within {timeout.TotalSeconds:0} s");
            }

            await Task.Delay(50);
        }
    }

    private async Task<Node> StartNodeAsync(int index)
    {
        var dir = Path.Combine(_root, index.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        for (var attempt = 0; ; attempt++)
        {
            var port = Random.Shared.Next(20_000, 50_000);
            File.Delete(Path.Combine(dir, "nodes.conf"));
            var info = new ProcessStartInfo(File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : "redis-server")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = dir,
            };
            foreach (var arg in new[]
            {
                "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", dir,
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", NodeTimeoutMs.ToString(CultureInfo.InvariantCulture),
                "--cluster-replica-validity-factor", "0",
                "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning",
            })
            {
                info.ArgumentList.Add(arg);
            }

            Process process;
            try
            {
                process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                throw new InvalidOperationException("redis-server is not installed: apt-get install -y redis-server", ex);
            }

            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            var started = Stopwatch.StartNew();
            while (!process.HasExited && started.Elapsed < TimeSpan.FromSeconds(10))
            {
                var pong = await TryCliAsync(["-p", port.ToString(CultureInfo.InvariantCulture), "ping"]);
                if (pong?.Trim() == "PONG")
                {
                    return new Node(port, process);
                }

                await Task.Delay(20);
            }

            // The port (or its bus port) was taken, or the server never answered: try another port.
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
            if (attempt >= 20)
            {
                throw new InvalidOperationException("no cluster node could bind a loopback port in 20 attempts");
            }
        }
    }

    private static async Task<string?> TryCliAsync(string[] args)
    {
        try
        {
            return await RunCliAsync(args);
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Runs redis-cli with <paramref name="args"/> (bounded: 30 s) and returns its output.</summary>
    public static async Task<string> RunCliAsync(string[] args)
    {
        var info = new ProcessStartInfo(File.Exists("/usr/bin/redis-cli") ? "/usr/bin/redis-cli" : "redis-cli")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("redis-cli did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"redis-cli {string.Join(' ', args)} did not finish in 30 s");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli {string.Join(' ', args)} failed: {await error}{await output}");
        }

        return await output;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            try
            {
                await KillAsync(node.Port);
            }
            catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
            {
                // Best effort: an already gone node is fine.
            }

            node.Process.Dispose();
        }

        _nodes.Clear();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed record Node(int Port, Process Process);
}
