using System.Diagnostics;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// The real service as an operator runs it — <c>dotnet Pathfinder.Signaling.dll</c> from the build output, configured
/// by environment variables only — with stdout and stderr kept apart, for what an in-process host cannot show: the
/// exit code, the exact stderr line, the banner and the console log format. Every wait is bounded; the process is
/// killed on dispose.
/// </summary>
public sealed partial class ServiceProcess : IAsyncDisposable
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
    /// the inherited environment first (<see cref="ChildProcess.Prepare"/>); <paramref name="environment"/> sets the
    /// rest (null removes a variable). Unless the test says where to listen (PEERJS_PORT, ASPNETCORE_URLS, --urls), the
    /// service listens on a loopback port the OS picks (<see cref="AnyPort"/>), never on a fixed one.
    /// </summary>
    public static ServiceProcess Start(IDictionary<string, string?> environment, params string[] args)
    {
        var settings = new Dictionary<string, string?>(environment, StringComparer.Ordinal);
        if (!ListenSettings.Any(settings.ContainsKey) && !args.Any(a => a.StartsWith("--urls", StringComparison.Ordinal)))
        {
            settings["ASPNETCORE_URLS"] = AnyPort;
        }

        var info = ChildProcess.Prepare("dotnet", [Path.Combine(AppContext.BaseDirectory, "Pathfinder.Signaling.dll"), .. args], settings, AppContext.BaseDirectory);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        var service = new ServiceProcess(process);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => service._changed.Release();
        return service;
    }

    /// <summary>
    /// Starts the service (see <see cref="Start"/>) and waits until it reports where it listens — the banner's URL
    /// line, or the "listening on" event when the console log is structured — which sets <see cref="Port"/>.
    /// </summary>
    public static async Task<ServiceProcess> StartListeningAsync(IDictionary<string, string?> environment, params string[] args)
    {
        var service = Start(environment, args);
        try
        {
            await service.WaitForListeningAsync();
            return service;
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// For tests of PEERJS_PORT itself: the service is given a <see cref="Ports.Candidate"/> port; when it reports the
    /// port taken (its one stderr line), it is started again on another (bounded).
    /// </summary>
    public static Task<ServiceProcess> StartOnPeerJsPortAsync(IDictionary<string, string?> environment) =>
        Ports.StartWithRetryAsync<ServiceProcess>(async port =>
        {
            var settings = new Dictionary<string, string?>(environment, StringComparer.Ordinal)
            {
                ["PEERJS_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            var service = Start(settings);
            try
            {
                await service.WaitForListeningAsync();
                return service;
            }
            catch (InvalidOperationException) when (service._process.HasExited && service.Stderr.Any(l => l.Contains($"port {port} is already in use", StringComparison.Ordinal)))
            {
                await service.DisposeAsync();
                return null;
            }
            catch
            {
                await service.DisposeAsync();
                throw;
            }
        });

    /// <summary>Kestrel URL for "a loopback port the OS picks"; the service reports the port it got.</summary>
    public const string AnyPort = "http://127.0.0.1:0";

    /// <summary>The port the service reported listening on (set by <see cref="WaitForListeningAsync"/>).</summary>
    public int Port { get; private set; }

    /// <summary>http://127.0.0.1:{Port} (or https).</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>Waits until the service reports where it listens (banner URL line or "listening on" event) and returns the port.</summary>
    public async Task<int> WaitForListeningAsync(TimeSpan? timeout = null)
    {
        var line = await WaitForStdoutAsync(l => ListeningAt().IsMatch(l), timeout);
        var match = ListeningAt().Match(line);
        Port = int.Parse(match.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture);
        BaseUri = new Uri($"{match.Groups["scheme"].Value}://127.0.0.1:{Port}");
        return Port;
    }

    // The banner's "URL:    http://localhost:5123/pathfinder" or event 23's "listening on http://127.0.0.1:5123/pathfinder".
    [System.Text.RegularExpressions.GeneratedRegex(@"(?:URL:\s+|listening on )(?<scheme>https?)://[^\s/""]+:(?<port>\d+)")]
    private static partial System.Text.RegularExpressions.Regex ListeningAt();

    private static readonly string[] ListenSettings = ["PEERJS_PORT", "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "Signaling__Port"];

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
