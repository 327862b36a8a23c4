using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Operations.Tests;

/// <summary>
/// scripts/manage-signaling.sh end to end against the real published service (Production, a strong key, a free
/// loopback port per test): start, status, a busy port, stop (graceful and forced), restart, failures and exit codes.
/// Every process a test starts is stopped by the test, and killed in cleanup if that failed.
/// </summary>
[Collection(PublishedServiceCollection.Name)]
public sealed partial class ManageScriptTests(PublishedService published) : IAsyncLifetime
{
    private const string Script = "scripts/manage-signaling.sh";
    private readonly List<int> _started = [];
    private readonly string _key = AccessKey.Generate();
    private string _runDir = string.Empty;

    public Task InitializeAsync()
    {
        _runDir = published.Scratch("run");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var pid in _started)
        {
            Pids.Kill(pid);
        }

        foreach (var pidFile in Directory.Exists(_runDir) ? Directory.GetFiles(_runDir, "*.pid") : [])
        {
            if (int.TryParse(await File.ReadAllTextAsync(pidFile), out var pid) && Pids.Alive(pid))
            {
                Pids.Kill(pid);
            }
        }
    }

    [Fact]
    public async Task Start_status_stop_run_the_service_and_report_it()
    {
        published.EnsurePublished();

        var (start, port) = await StartOnSomePortAsync();
        Assert.True(start.ExitCode == 0, start.ToString());
        var pid = PidIn(start.Stdout);
        Assert.Contains($"URL:    http://localhost:{port}/pathfinder", start.Stdout, StringComparison.Ordinal);
        Assert.Equal(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), (await File.ReadAllTextAsync(PidFile(port))).Trim());
        Assert.True(Pids.Alive(pid));
        Assert.Contains("Pathfinder.Signaling.dll", await File.ReadAllTextAsync($"/proc/{pid}/cmdline"), StringComparison.Ordinal);

        // The service really answers, on the port the script was given, with the path it was given.
        var (status, body) = await Http.GetAsync($"http://127.0.0.1:{port}/pathfinder");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("\"name\"", body, StringComparison.Ordinal);
        var (idStatus, id) = await Http.GetAsync($"http://127.0.0.1:{port}/pathfinder/{_key}/id");
        Assert.Equal(HttpStatusCode.OK, idStatus);
        Assert.True(Guid.TryParse(id, out _), id);

        var again = await ScriptAsync("start", port);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains($"already running: PID {pid}", again.Stdout, StringComparison.Ordinal);

        var running = await ScriptAsync("status", port);
        Assert.True(running.ExitCode == 0, running.ToString());
        Assert.Contains($"PID:    {pid}", running.Stdout, StringComparison.Ordinal);
        Assert.Contains($"http://localhost:{port}/pathfinder", running.Stdout, StringComparison.Ordinal);
        Assert.Contains("GET /health -> 200 Healthy", running.Stdout, StringComparison.Ordinal);

        // The same through bash's /dev/tcp, for machines without curl.
        var bare = await ScriptAsync("status", port, new() { ["SIGNALING_HTTP_CLIENT"] = "bash" });
        Assert.True(bare.ExitCode == 0, bare.ToString());
        Assert.Contains("GET /health -> 200 Healthy", bare.Stdout, StringComparison.Ordinal);

        var stop = await ScriptAsync("stop", port);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Contains($"Stopped (PID {pid})", stop.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("sending SIGKILL", stop.Stdout, StringComparison.Ordinal);
        Assert.True(await Pids.WaitGoneAsync(pid, TimeSpan.FromSeconds(5)));
        Assert.False(File.Exists(PidFile(port)));
        Assert.True(Ports.IsFree(port));
        // SIGTERM was a graceful stop: the host ran its shutdown.
        var log = await File.ReadAllTextAsync(LogFile(port));
        Assert.Contains("Application is shutting down", log, StringComparison.Ordinal);
        // Started from its own folder (its appsettings.json applies): request URLs, which carry the key, are not logged.
        Assert.DoesNotContain(_key, log, StringComparison.Ordinal);

        var stopAgain = await ScriptAsync("stop", port);
        Assert.True(stopAgain.ExitCode == 0, stopAgain.ToString());
        Assert.Contains("not running", stopAgain.Stdout, StringComparison.Ordinal);

        var after = await ScriptAsync("status", port);
        Assert.True(after.ExitCode == 3, after.ToString());
        Assert.Contains("not running", after.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ss")]
    [InlineData("proc")]
    public async Task Start_on_a_busy_port_names_the_process_holding_it_and_starts_nothing(string probe)
    {
        published.EnsurePublished();
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;

        var start = await ScriptAsync("start", port, new() { ["SIGNALING_PORT_PROBE"] = probe });
        Assert.True(start.ExitCode == 6, start.ToString());
        Assert.Contains($"port {port} is already in use", start.Stderr, StringComparison.Ordinal);
        Assert.Contains($"PID {Environment.ProcessId}:", start.Stderr, StringComparison.Ordinal);
        Assert.Contains($"PEERJS_PORT={port + 1}", start.Stderr, StringComparison.Ordinal);
        Assert.Contains("kill <PID>", start.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(PidFile(port)));
        Assert.False(File.Exists(LogFile(port)));

        var status = await ScriptAsync("status", port, new() { ["SIGNALING_PORT_PROBE"] = probe });
        Assert.True(status.ExitCode == 3, status.ToString());
        Assert.Contains($"Port {port} is in use by", status.Stdout, StringComparison.Ordinal);
        Assert.Contains($"PID {Environment.ProcessId}:", status.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_replaces_the_process_and_the_new_one_answers()
    {
        published.EnsurePublished();
        var (start, port) = await StartOnSomePortAsync();
        Assert.True(start.ExitCode == 0, start.ToString());
        var first = PidIn(start.Stdout);

        var restart = await ScriptAsync("restart", port);
        Assert.True(restart.ExitCode == 0, restart.ToString());
        Assert.Contains($"Stopped (PID {first})", restart.Stdout, StringComparison.Ordinal);
        var second = PidIn(restart.Stdout);
        Assert.NotEqual(first, second);
        Assert.False(Pids.Alive(first));
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync($"http://127.0.0.1:{port}/pathfinder")).Status);

        var stop = await ScriptAsync("stop", port);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.True(await Pids.WaitGoneAsync(second, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Stop_sends_SIGKILL_when_SIGTERM_is_not_enough()
    {
        var port = Ports.Candidate(); // names the PID file only: nothing listens
        // Stands in for a hung service: ignores SIGTERM, and its command line names the service's dll.
        using var stubborn = Process.Start(Run.Prepare("bash", ["-c", "trap '' TERM; while :; do sleep 0.2; done", "Pathfinder.Signaling.dll"], null, null))!;
        _started.Add(stubborn.Id);
        Directory.CreateDirectory(_runDir);
        await File.WriteAllTextAsync(PidFile(port), stubborn.Id + "\n");

        var stop = await ScriptAsync("stop", port, new() { ["SIGNALING_STOP_TIMEOUT"] = "1" });
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Contains("did not exit within 1s of SIGTERM: sending SIGKILL", stop.Stdout, StringComparison.Ordinal);
        Assert.True(stubborn.WaitForExit(5000));
        Assert.Equal(137, stubborn.ExitCode); // 128 + SIGKILL
        Assert.False(File.Exists(PidFile(port)));
    }

    [Fact]
    public async Task Start_fails_with_the_services_own_line_when_it_exits()
    {
        published.EnsurePublished();

        // Production without a key: the service refuses to start (exit code 2).
        var (start, port) = await StartOnSomePortAsync(new() { ["PEERJS_KEY"] = null });
        Assert.True(start.ExitCode == 1, start.ToString());
        Assert.Contains("exited during start-up (exit code 2)", start.Stderr, StringComparison.Ordinal);
        Assert.Contains("FATAL: PEERJS_KEY environment variable not set", start.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(PidFile(port)));
        Assert.True(Ports.IsFree(port));
    }

    [Fact]
    public async Task Start_is_bounded_and_stops_what_never_answers()
    {
        published.EnsurePublished();
        var fake = Path.Combine(published.Scratch("fake-dotnet"), "dotnet");
        await File.WriteAllTextAsync(fake, "#!/usr/bin/env bash\nwhile :; do sleep 0.2; done\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var (start, port) = await StartOnSomePortAsync(new() { ["DOTNET"] = fake, ["SIGNALING_START_TIMEOUT"] = "2", ["SIGNALING_STOP_TIMEOUT"] = "2" });
        Assert.True(start.ExitCode == 1, start.ToString());
        Assert.Contains("did not answer GET /pathfinder within 2s", start.Stderr, StringComparison.Ordinal);
        var pid = PidIn(start.Stdout);
        _started.Add(pid);
        Assert.True(await Pids.WaitGoneAsync(pid, TimeSpan.FromSeconds(5)), "the unanswering process was left running");
        Assert.False(File.Exists(PidFile(port)));
    }

    [Fact]
    public async Task Exit_codes_for_usage_settings_and_a_missing_publish_output()
    {
        var usage = await ScriptAsync("bogus", 9000);
        Assert.True(usage.ExitCode == 2, usage.ToString());
        Assert.Contains("usage:", usage.Stderr, StringComparison.Ordinal);

        var badPort = await ScriptAsync("status", 9000, new() { ["PEERJS_PORT"] = "90000" });
        Assert.True(badPort.ExitCode == 2, badPort.ToString());
        Assert.Contains("PEERJS_PORT must be a port number between 1 and 65535, got '90000'", badPort.Stderr, StringComparison.Ordinal);

        var empty = published.Scratch("empty");
        var missing = await ScriptAsync("start", Ports.Candidate(), new() { ["SIGNALING_APP_DIR"] = empty }); // fails before any port is probed
        Assert.True(missing.ExitCode == 5, missing.ToString());
        Assert.Contains("dotnet publish Pathfinder.Signaling -c Release -o artifacts/signaling", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_reports_a_crashed_service_by_its_leftover_PID_file()
    {
        published.EnsurePublished();
        var (start, port) = await StartOnSomePortAsync();
        Assert.True(start.ExitCode == 0, start.ToString());
        var pid = PidIn(start.Stdout);
        _started.Add(pid);

        Pids.Kill(pid); // a crash: no clean-up by the script
        Assert.True(await Pids.WaitGoneAsync(pid, TimeSpan.FromSeconds(5)));

        var status = await ScriptAsync("status", port);
        Assert.True(status.ExitCode == 1, status.ToString());
        Assert.Contains($"names PID {pid}", status.Stdout, StringComparison.Ordinal);

        // start cleans up the stale PID file and starts a new process.
        var restart = await ScriptAsync("start", port);
        Assert.True(restart.ExitCode == 0, restart.ToString());
        Assert.Contains("stale PID file", restart.Stdout, StringComparison.Ordinal);
        _started.Add(PidIn(restart.Stdout));
        Assert.True((await ScriptAsync("stop", port)).ExitCode == 0);
    }

    private string PidFile(int port) => Path.Combine(_runDir, $"signaling-{port}.pid");

    private string LogFile(int port) => Path.Combine(_runDir, $"signaling-{port}.log");

    private int PidIn(string output)
    {
        var match = StartedPid().Match(output);
        Assert.True(match.Success, "no PID in: " + output);
        var pid = int.Parse(match.Groups["pid"].Value, System.Globalization.CultureInfo.InvariantCulture);
        _started.Add(pid);
        return pid;
    }

    /// <summary>
    /// <c>start</c> on a candidate port; when the script (or the service it started) reports the port taken, on another
    /// one. The result of the last start and its port.
    /// </summary>
    private async Task<(RunResult Start, int Port)> StartOnSomePortAsync(Dictionary<string, string?>? extra = null)
    {
        var started = await Ports.StartWithRetryAsync<Started>(async port =>
        {
            var start = await ScriptAsync("start", port, extra);
            return start.Stderr.Contains($"port {port} is already in use", StringComparison.Ordinal) ? null : new Started(start, port);
        });
        return (started.Result, started.Port);
    }

    private sealed record Started(RunResult Result, int Port);

    private Task<RunResult> ScriptAsync(string action, int port, Dictionary<string, string?>? extra = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["SIGNALING_APP_DIR"] = published.Directory,
            ["SIGNALING_RUN_DIR"] = _runDir,
            ["PEERJS_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["PEERJS_KEY"] = _key,
        };
        foreach (var (name, value) in extra ?? [])
        {
            environment[name] = value;
        }

        return Run.Async("bash", [Repo.File(Script), action], environment, timeout: TimeSpan.FromSeconds(90));
    }

    [GeneratedRegex(@"\(PID (?<pid>\d+)\) on port")]
    private static partial Regex StartedPid();
}
