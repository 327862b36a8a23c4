using System.Globalization;
using System.Net;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Operations.Tests;

/// <summary>
/// deploy/pathfinder-signaling.service and deploy/signaling.env.example: the unit passes systemd-analyze verify without
/// a warning and has what the issue asks (Restart=always, a dedicated user, the EnvironmentFile); the environment file
/// names only variables the service reads; and the unit's command with its environment (the example as shipped, then
/// with a generated key) behaves as the unit expects: refuses with exit code 2 (RestartPreventExitStatus), then serves.
/// </summary>
[Collection(PublishedServiceCollection.Name)]
public sealed class SystemdTests(PublishedService published)
{
    private const string UnitPath = "deploy/pathfinder-signaling.service";
    private const string EnvExamplePath = "deploy/signaling.env.example";

    private static readonly ILookup<string, string> Service = Section(Repo.Read(UnitPath), "Service");

    [Fact]
    public async Task The_unit_passes_systemd_analyze_verify_without_warnings()
    {
        var result = await Run.Async("systemd-analyze", ["verify", Repo.File(UnitPath)], timeout: TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(result.Stderr.Trim().Length == 0, result.ToString());
    }

    [Fact]
    public void The_unit_restarts_always_runs_as_a_dedicated_user_and_reads_its_environment_file()
    {
        Assert.Equal("always", Service["Restart"].Single());
        var user = Service["User"].Single();
        Assert.NotEqual("root", user);
        Assert.Equal(user, Service["Group"].Single());
        Assert.Equal("/etc/pathfinder-signaling/signaling.env", Service["EnvironmentFile"].Single());
        Assert.Contains("ASPNETCORE_ENVIRONMENT=Production", Service["Environment"].Single(), StringComparison.Ordinal);
        Assert.Equal("yes", Service["NoNewPrivileges"].Single());

        // ExecStart runs the published dll from the working directory the install steps publish to.
        var workingDirectory = Service["WorkingDirectory"].Single();
        Assert.Equal($"/usr/bin/dotnet {workingDirectory}/Pathfinder.Signaling.dll", Service["ExecStart"].Single());
        Assert.Contains($"-o {workingDirectory} ", Repo.Read(UnitPath), StringComparison.Ordinal);

        // Exit code 2 is the service's "bad configuration" (a restart cannot fix it); see the run test below.
        Assert.Equal("2", Service["RestartPreventExitStatus"].Single());
    }

    [Fact]
    public void The_environment_file_names_only_variables_the_service_reads()
    {
        var known = SignalingConfiguration.EnvironmentAliases.Select(a => a.Variable)
            .Concat(["ConnectionStrings__redis", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "LOG_FORMAT", "ASPNETCORE_ENVIRONMENT"])
            .ToHashSet(StringComparer.Ordinal);
        var variables = EnvFile(Repo.Read(EnvExamplePath), includeCommentedOut: true);
        Assert.Contains("PEERJS_KEY", variables.Keys);
        Assert.All(variables.Keys, name => Assert.Contains(name, known));
        Assert.Equal(string.Empty, variables["PEERJS_KEY"]); // never a usable key in an example
    }

    [Fact]
    public async Task The_units_command_refuses_the_example_as_shipped_and_serves_once_a_key_is_generated()
    {
        published.EnsurePublished();
        var environment = new Dictionary<string, string?>();
        foreach (var assignment in Service["Environment"].SelectMany(e => e.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
        {
            var eq = assignment.IndexOf('=', StringComparison.Ordinal);
            environment[assignment[..eq]] = assignment[(eq + 1)..];
        }

        foreach (var (name, value) in EnvFile(Repo.Read(EnvExamplePath), includeCommentedOut: false))
        {
            environment[name] = value; // EnvironmentFile= overrides Environment=
        }

        var exec = Service["ExecStart"].Single().Split(' ');
        var dll = Path.Combine(published.Directory, Path.GetFileName(exec[1]));

        // As shipped (empty PEERJS_KEY): one FATAL line, exit code 2, which the unit does not restart.
        var refused = await Run.Async("dotnet", [dll], environment, published.Directory, TimeSpan.FromSeconds(60));
        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains("FATAL: PEERJS_KEY", refused.Output, StringComparison.Ordinal);

        // The key from the documented command.
        var generated = await Run.Async("dotnet", [dll, "--generate-key"], workingDirectory: published.Directory);
        Assert.True(generated.ExitCode == 0, generated.ToString());
        environment["PEERJS_KEY"] = generated.Stdout.Trim();

        // Ready once it hands out an id with the generated key (on a candidate PEERJS_PORT; another if that one was taken).
        var (running, _) = await Run.ServeAsync("dotnet", [dll], environment, published.Directory, async port =>
        {
            try
            {
                return (await Http.GetAsync($"http://127.0.0.1:{port}/pathfinder/{environment["PEERJS_KEY"]}/id")).Status == HttpStatusCode.OK;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        });
        await running.DisposeAsync();

        // LOG_FORMAT=systemd from the unit: journald priorities on every line. The key never in the log, although the
        // request above carried it in its URL (the service holds URL-logging categories at Warning).
        var log = await running.Stdout + await running.Stderr;
        Assert.Contains("<6>", log, StringComparison.Ordinal);
        Assert.DoesNotContain(environment["PEERJS_KEY"]!, log, StringComparison.Ordinal);
    }

    /// <summary>KEY=value lines of an environment file (systemd's EnvironmentFile= subset used here).</summary>
    private static Dictionary<string, string> EnvFile(string text, bool includeCommentedOut)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (includeCommentedOut && line.StartsWith('#') && line.Length > 1 && (char.IsUpper(line[1]) || line[1] == '_') && line.Contains('=', StringComparison.Ordinal)
                && !line.Contains(' ', StringComparison.Ordinal))
            {
                line = line[1..];
            }

            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            Assert.True(eq > 0, $"not KEY=value: '{raw}'");
            variables[line[..eq]] = line[(eq + 1)..];
        }

        return variables;
    }

    private static ILookup<string, string> Section(string unit, string name)
    {
        var entries = new List<(string Key, string Value)>();
        var inSection = false;
        foreach (var raw in unit.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith('['))
            {
                inSection = line == $"[{name}]";
            }
            else if (inSection && line.Length > 0 && !line.StartsWith('#') && line.Contains('=', StringComparison.Ordinal))
            {
                var eq = line.IndexOf('=', StringComparison.Ordinal);
                entries.Add((line[..eq], line[(eq + 1)..]));
            }
        }

        return entries.ToLookup(e => e.Key, e => e.Value, StringComparer.Ordinal);
    }
}
