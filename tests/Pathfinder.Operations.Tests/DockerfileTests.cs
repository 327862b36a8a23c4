using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Operations.Tests;

/// <summary>
/// Pathfinder.Signaling/Dockerfile without a container engine: its stages, base images, user, port, health check and
/// entry point by parsing it; its publish command run for real (the output holds what the final stage starts); and
/// the final stage's environment and HEALTHCHECK command run against the published service as the container would.
/// </summary>
[Collection(PublishedServiceCollection.Name)]
public sealed partial class DockerfileTests(PublishedService published)
{
    private static readonly (IReadOnlyDictionary<string, string> Args, IReadOnlyList<Stage> Stages) Parsed =
        Dockerfile.Parse(Repo.Read(PublishedService.DockerfilePath));

    private static Stage Build => Parsed.Stages[0];

    private static Stage Final => Parsed.Stages[^1];

    [Fact]
    public void Two_stages_an_sdk_build_and_an_aspnet_runtime_pinned_to_NET_10()
    {
        Assert.Equal(2, Parsed.Stages.Count);
        Assert.Equal("build", Build.Name);
        Assert.Equal("final", Final.Name);

        // Pinned versions, never a floating tag; the SDK satisfies global.json (same major.minor, feature band at or
        // above it, as rollForward latestFeature allows), the runtime is .NET 10.
        var sdk = ImageVersion().Match(Build.Image);
        Assert.True(sdk.Success && sdk.Groups["repo"].Value == "mcr.microsoft.com/dotnet/sdk", Build.Image);
        var runtime = ImageVersion().Match(Final.Image);
        Assert.True(runtime.Success && runtime.Groups["repo"].Value == "mcr.microsoft.com/dotnet/aspnet", Final.Image);
        Assert.Equal("10", runtime.Groups["major"].Value);
        Assert.Equal("0", runtime.Groups["minor"].Value);

        using var globalJson = JsonDocument.Parse(Repo.Read("global.json"));
        var required = Version.Parse(globalJson.RootElement.GetProperty("sdk").GetProperty("version").GetString()!);
        var pinned = new Version(int.Parse(sdk.Groups["major"].Value, CultureInfo.InvariantCulture), int.Parse(sdk.Groups["minor"].Value, CultureInfo.InvariantCulture), int.Parse(sdk.Groups["patch"].Value, CultureInfo.InvariantCulture));
        Assert.Equal((required.Major, required.Minor), (pinned.Major, pinned.Minor));
        Assert.True(pinned.Build >= required.Build, $"{Build.Image} is older than global.json's {required}");

        // The runtime image without a shell would break the HEALTHCHECK (bash's /dev/tcp).
        Assert.DoesNotMatch("chiseled|distroless|alpine|nanoserver", Final.Image);

        // The final stage takes only the publish output from the build stage.
        var copy = Assert.Single(Final.All("COPY"));
        Assert.StartsWith("--from=build ", copy.Arguments, StringComparison.Ordinal);
    }

    [Fact]
    public void The_final_stage_runs_as_a_non_root_user_on_port_9000_with_a_health_check_on_alive()
    {
        var user = Final.Last("USER")?.Arguments;
        Assert.NotNull(user);
        Assert.DoesNotMatch(@"^(root|0)(:|$)", user);
        Assert.Contains(user, new[] { "$APP_UID", "${APP_UID}", "app" }); // the runtime images' non-root user (UID 1654)
        var instructions = Final.Instructions.ToList();
        Assert.True(instructions.FindLastIndex(i => i.Keyword == "USER") > instructions.FindIndex(i => i.Keyword == "COPY"),
            "USER must come after the COPY (files stay root-owned and read-only for the app)");

        var env = Final.Environment();
        Assert.Equal("9000", Assert.Single(Final.All("EXPOSE")).Arguments);
        Assert.Equal("9000", env["PEERJS_PORT"]);
        Assert.Equal("/pathfinder", env["PEERJS_PATH"]);
        // The base image's ASPNETCORE_HTTP_PORTS=8080 would win over PEERJS_PORT.
        Assert.True(env.TryGetValue("ASPNETCORE_HTTP_PORTS", out var httpPorts) && httpPorts.Length == 0);
        // Configured by the service's own variables only: every PEERJS-style name set here is one the service reads.
        var known = SignalingConfiguration.EnvironmentAliases.Select(a => a.Variable).ToHashSet();
        Assert.All(env.Keys.Where(k => !k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) && !k.StartsWith("DOTNET_", StringComparison.Ordinal)),
            k => Assert.Contains(k, known));
        Assert.DoesNotContain("PEERJS_KEY", env.Keys); // never baked into an image

        var healthcheck = Assert.Single(Final.All("HEALTHCHECK")).Arguments;
        Assert.Matches(@"--interval=\d+s", healthcheck);
        Assert.Matches(@"--timeout=\d+s", healthcheck);
        var command = HealthCheckCommand();
        Assert.Equal("bash", command[0]);
        Assert.Contains("/alive", command[^1], StringComparison.Ordinal);
        Assert.Contains("${PEERJS_PORT", command[^1], StringComparison.Ordinal);

        var entrypoint = Final.Last("ENTRYPOINT")!;
        Assert.Equal(["dotnet", "Pathfinder.Signaling.dll"], entrypoint.ExecForm(entrypoint.Arguments) ?? []);
    }

    [Fact]
    public void The_build_stage_copies_everything_the_service_builds_from_and_dockerignore_keeps_it()
    {
        var sources = Build.All("COPY")
            .SelectMany(c => c.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1])
            .ToList();
        foreach (var source in sources)
        {
            Assert.True(File.Exists(Repo.File(source)) || Directory.Exists(Repo.File(source)), $"COPY {source}: not in the repository");
        }

        // Every project the service references (transitively) is copied, its .csproj before the restore.
        var projects = ProjectClosure(Repo.File("Pathfinder.Signaling/Pathfinder.Signaling.csproj"));
        foreach (var project in projects)
        {
            var relative = Path.GetRelativePath(Repo.Root, project);
            Assert.Contains(relative, sources);
            Assert.Contains(Path.GetDirectoryName(relative) + "/", sources);
        }

        // Files the build reads from the repository root (SDK pin, shared properties, central versions, analyzers).
        foreach (var file in new[] { "global.json", "Directory.Build.props", "Directory.Packages.props", ".editorconfig" })
        {
            Assert.Contains(file, sources);
        }

        // .dockerignore keeps build outputs out and excludes none of the sources above.
        var ignore = DockerIgnore.Load(Repo.File(".dockerignore"));
        Assert.Contains("**/bin/", ignore.Patterns);
        Assert.Contains("**/obj/", ignore.Patterns);
        Assert.True(ignore.Ignores("Pathfinder.Signaling/bin/Debug/net10.0/Pathfinder.Signaling.dll"));
        Assert.True(ignore.Ignores("Pathfinder.Signaling/obj/project.assets.json"));
        Assert.True(ignore.Ignores("tests/Pathfinder.Signaling.Tests/Protocol/HandshakeTests.cs"));
        foreach (var source in sources)
        {
            Assert.False(ignore.Ignores(source.TrimEnd('/')), $"COPY {source}: excluded by .dockerignore");
        }
    }

    [Fact]
    public void The_Dockerfiles_publish_command_produces_what_the_final_stage_starts()
    {
        published.EnsurePublished();
        var publishOutput = published.DockerfileCommand[published.DockerfileCommand.ToList().IndexOf("-o") + 1];
        var copy = Final.All("COPY").Single().Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(publishOutput, copy[1]); // COPY --from=build <the publish output> .
        Assert.Equal(".", copy[2]);
        Assert.Equal("/app", Final.Last("WORKDIR")!.Arguments);
        Assert.Contains("Release", published.DockerfileCommand);

        foreach (var file in new[] { "Pathfinder.Signaling.dll", "Pathfinder.Signaling.runtimeconfig.json", "Pathfinder.Signaling.deps.json", "Pathfinder.ServiceDefaults.dll", "appsettings.json" })
        {
            Assert.True(File.Exists(Path.Combine(published.Directory, file)), file + " missing from the publish output");
        }

        using var runtimeConfig = JsonDocument.Parse(File.ReadAllText(Path.Combine(published.Directory, "Pathfinder.Signaling.runtimeconfig.json")));
        var frameworks = runtimeConfig.RootElement.GetProperty("runtimeOptions").GetProperty("frameworks").EnumerateArray()
            .Select(f => (Name: f.GetProperty("name").GetString(), Version: f.GetProperty("version").GetString())).ToList();
        Assert.Contains(frameworks, f => f.Name == "Microsoft.AspNetCore.App" && f.Version!.StartsWith("10.0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_container_environment_listens_on_PEERJS_PORT_and_the_HEALTHCHECK_passes_then_fails_when_stopped()
    {
        published.EnsurePublished();

        // As `docker run -e PEERJS_PORT=... -e PEERJS_KEY=...` would: the base image's variables, then the final
        // stage's ENV, then -e; the Production environment (the image sets none); working directory /app.
        var environment = new Dictionary<string, string?> { ["ASPNETCORE_HTTP_PORTS"] = "8080" };
        foreach (var (name, value) in Final.Environment())
        {
            environment[name] = value;
        }

        environment["PEERJS_KEY"] = AccessKey.Generate();
        var entrypoint = Final.Last("ENTRYPOINT")!.ExecForm(Final.Last("ENTRYPOINT")!.Arguments)!;
        // Ready once the HEALTHCHECK command passes (on a candidate PEERJS_PORT; another if that one was taken).
        var (running, port) = await Run.ServeAsync(
            entrypoint[0], entrypoint[1..], environment, published.Directory, async candidate => (await HealthCheckAsync(candidate)).ExitCode == 0);
        await using (running)
        {
            Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync($"http://127.0.0.1:{port}/pathfinder")).Status);
        }

        // The base image's ASPNETCORE_HTTP_PORTS=8080 did not win: PEERJS_PORT is the one port it listened on.
        var output = await running.Stdout;
        Assert.Contains($"Now listening on: http://[::]:{port}", output, StringComparison.Ordinal);
        Assert.DoesNotContain(":8080", output, StringComparison.Ordinal);

        var down = await HealthCheckAsync(port);
        Assert.NotEqual(0, down.ExitCode);
    }

    [Fact]
    public async Task The_image_prints_a_fresh_key_with_generate_key()
    {
        published.EnsurePublished();
        var entrypoint = Final.Last("ENTRYPOINT")!.ExecForm(Final.Last("ENTRYPOINT")!.Arguments)!;
        var result = await Run.Async(entrypoint[0], [.. entrypoint[1..], "--generate-key"], workingDirectory: published.Directory);
        Assert.True(result.ExitCode == 0, result.ToString());
        var key = result.Stdout.Trim();
        Assert.Matches("^[0-9a-f]{64}$", key);
        Assert.Null(ProductionGuard.CheckKey(key, "PEERJS_KEY"));
    }

    private static string[] HealthCheckCommand()
    {
        var healthcheck = Final.All("HEALTHCHECK").Single().Arguments;
        var cmd = healthcheck[(healthcheck.IndexOf("CMD ", StringComparison.Ordinal) + 4)..];
        return JsonSerializer.Deserialize<string[]>(cmd)!;
    }

    /// <summary>The HEALTHCHECK command as Docker runs it: exec form, with the container's PEERJS_PORT.</summary>
    private static Task<RunResult> HealthCheckAsync(int port)
    {
        var command = HealthCheckCommand();
        return Run.Async(command[0], command[1..], new Dictionary<string, string?> { ["PEERJS_PORT"] = port.ToString(CultureInfo.InvariantCulture) }, timeout: TimeSpan.FromSeconds(10));
    }

    private static HashSet<string> ProjectClosure(string project)
    {
        var all = new HashSet<string>(StringComparer.Ordinal);
        var todo = new Stack<string>([project]);
        while (todo.TryPop(out var current))
        {
            if (!all.Add(Path.GetFullPath(current)))
            {
                continue;
            }

            foreach (var reference in XDocument.Load(current).Descendants("ProjectReference"))
            {
                var include = reference.Attribute("Include")!.Value.Replace('\\', '/');
                todo.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(current)!, include)));
            }
        }

        return all;
    }

    [GeneratedRegex(@"^(?<repo>[^:]+):(?<major>\d+)\.(?<minor>\d+)\.(?<patch>\d+)$")]
    private static partial Regex ImageVersion();
}
