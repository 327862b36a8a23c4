using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Pathfinder.AppHost.Tests;

/// <summary>
/// What a plugin checkout needs from this machine, said on the AppHost console once with the fix: the Node major of
/// its .nvmrc, Go and mage for a backend plugin, and a failing <c>npm ci</c>. The tools are stand-in scripts in a
/// folder given to the AppHost as its PATH.
/// </summary>
public sealed class PluginToolchainTests
{
    [Fact]
    public async Task A_plugin_asking_for_another_Node_major_gets_one_console_note_with_the_fix_and_a_matching_Node_none()
    {
        using var tools = new ToolFolder();
        tools.Add("node", "echo v20.1.0");
        using var checkout = new PluginCheckout(backend: false);
        checkout.Write(".nvmrc", "24\n");

        await using (var app = await BuildAsync(checkout, tools))
        {
            var note = Assert.Single(app.Notes, n => n.Contains(".nvmrc", StringComparison.Ordinal));
            Assert.Contains("needs Node 24", note, StringComparison.Ordinal);
            Assert.Contains("`node --version` is v20.1.0", note, StringComparison.Ordinal);
            Assert.Contains("nvm install 24 && nvm use 24", note, StringComparison.Ordinal);
        }

        checkout.Write(".nvmrc", "v20.5.1\n");
        await using (var app = await BuildAsync(checkout, tools))
        {
            Assert.DoesNotContain(app.Notes, n => n.Contains(".nvmrc", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Without_node_on_PATH_the_note_names_the_version_to_install()
    {
        using var tools = new ToolFolder();
        using var checkout = new PluginCheckout(backend: false);
        checkout.Write(".nvmrc", "v24.11.0");

        await using var app = await BuildAsync(checkout, tools);

        var note = Assert.Single(app.Notes, n => n.Contains(".nvmrc", StringComparison.Ordinal));
        Assert.Contains("`node` is not on PATH", note, StringComparison.Ordinal);
        Assert.Contains("nvm install 24", note, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plugin.json", "src/plugin.json \"backend\": true")]
    [InlineData("go.mod", "go.mod")]
    [InlineData("Magefile.go", "Magefile.go")]
    public async Task A_backend_plugin_without_go_gets_a_console_note_that_it_can_never_turn_healthy(string evidence, string named)
    {
        using var tools = new ToolFolder();
        using var checkout = new PluginCheckout(backend: evidence == "plugin.json");
        if (evidence != "plugin.json")
        {
            File.Delete(Path.Combine(checkout.Root, "src", "plugin.json"));
            checkout.Write(evidence, "module example\n");
        }

        await using var app = await BuildAsync(checkout, tools);

        Assert.False(app.Has("plugin-dev-backend"));
        var note = Assert.Single(app.Notes, n => n.Contains("Go backend", StringComparison.Ordinal));
        Assert.Contains($"({named})", note, StringComparison.Ordinal);
        Assert.Contains("`go` is not on PATH", note, StringComparison.Ordinal);
        Assert.Contains("can never turn healthy", note, StringComparison.Ordinal);
        Assert.Contains($"dist/{Pathfinder.GrafanaDev.PluginDevBuild.BackendBinaryName("gpx_grafana-pathfinder-app")}", note, StringComparison.Ordinal);
        Assert.Contains("https://go.dev/doc/install", note, StringComparison.Ordinal);
        Assert.Contains("go install github.com/magefile/mage@latest", note, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_go_but_without_mage_the_note_says_to_install_mage_and_with_both_the_backend_builds()
    {
        using var tools = new ToolFolder();
        tools.Add("go", "exit 0");
        using var checkout = new PluginCheckout(backend: true);

        await using (var app = await BuildAsync(checkout, tools))
        {
            var note = Assert.Single(app.Notes, n => n.Contains("Go backend", StringComparison.Ordinal));
            Assert.Contains("`mage` is not on PATH", note, StringComparison.Ordinal);
            Assert.DoesNotContain("https://go.dev", note, StringComparison.Ordinal);
        }

        var mage = tools.Add("mage", "exit 0");
        await using (var app = await BuildAsync(checkout, tools))
        {
            Assert.DoesNotContain(app.Notes, n => n.Contains("Go backend", StringComparison.Ordinal));
            Assert.Equal(mage, app.Get<ExecutableResource>("plugin-dev-backend").Command);
        }
    }

    [Fact]
    public async Task A_failing_npm_ci_is_said_on_the_console_once_with_the_fix()
    {
        // No package-lock.json: `npm ci` refuses and exits non-zero (without touching the network).
        using var checkout = new PluginCheckout(backend: false);
        checkout.Write(".nvmrc", "24");
        var console = new ConsoleCapture();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Pathfinder_AppHost>(
            ["--Pathfinder:Containers=off", $"--Pathfinder:PluginDir={checkout.Root}", "--Pathfinder:RedisServer=/nonexistent/redis-server"],
            cts.Token);
        builder.Services.AddLogging(logging => logging.AddProvider(console));
        await using var app = await builder.BuildAsync(cts.Token);
        try
        {
            await app.StartAsync(cts.Token);
            await app.ResourceNotifications.WaitForResourceAsync("plugin-dev-install", KnownResourceStates.TerminalStates, cts.Token);
            var line = await console.WaitForAsync(l => l.Contains("plugin-dev-install:", StringComparison.Ordinal), cts.Token);

            Assert.Contains("`npm ci` failed with exit code", line, StringComparison.Ordinal);
            Assert.Contains("Grafana never starts", line, StringComparison.Ordinal);
            Assert.Contains($"`cd {checkout.Root} && npm ci`", line, StringComparison.Ordinal);
            Assert.Contains("Fix:", line, StringComparison.Ordinal);
            Assert.Contains(".nvmrc: 24", line, StringComparison.Ordinal);
            Assert.Single(console.Lines, l => l.Contains("plugin-dev-install:", StringComparison.Ordinal));
        }
        finally
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await app.StopAsync(stop.Token);
        }
    }

    private static Task<AppModel> BuildAsync(PluginCheckout checkout, ToolFolder tools) =>
        AppModel.BuildAsync("--Pathfinder:Containers=off", $"--Pathfinder:PluginDir={checkout.Root}", $"--PATH={tools.Root}");

    /// <summary>A folder of stand-in programs (shell scripts) used as the AppHost's whole PATH.</summary>
    private sealed class ToolFolder : IDisposable
    {
        public string Root { get; } = Directory.CreateTempSubdirectory("pathfinder-tools-").FullName;

        public string Add(string name, string body)
        {
            var path = Path.Combine(Root, name);
            File.WriteAllText(path, $"#!/bin/sh\n{body}\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            return path;
        }

        public void Dispose() => Directory.Delete(Root, recursive: true);
    }

    /// <summary>What the AppHost logs through the "Pathfinder.AppHost" category: the lines its console shows.</summary>
    private sealed class ConsoleCapture : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyList<string> Lines => _lines.ToList();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName == "Pathfinder.AppHost" ? _lines : null);

        public async Task<string> WaitForAsync(Func<string, bool> match, CancellationToken cancellationToken)
        {
            while (true)
            {
                var found = _lines.FirstOrDefault(match);
                if (found is not null)
                {
                    return found;
                }

                await Task.Delay(50, cancellationToken);
            }
        }

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string>? lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => lines is not null;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines?.Enqueue(formatter(state, exception));
        }
    }
}
