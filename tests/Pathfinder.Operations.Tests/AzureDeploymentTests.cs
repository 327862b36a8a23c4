using System.Text.Json;

namespace Pathfinder.Operations.Tests;

/// <summary>
/// azd: azure.yaml points at the AppHost, and the AppHost's publishing manifest, generated with the documented
/// command exactly as azd runs it (`dotnet run --project … --publisher manifest --output-path …`, the default launch
/// profile included), describes a deployable system: Redis as a container, the signaling project in Production with
/// its replicas, the Redis connection string, KNOWN_PROXIES for the platform's ingress, and the key as a secret
/// parameter with no default. No cloud, no azd: the manifest is what azd would consume.
/// </summary>
public sealed class AzureDeploymentTests
{
    [Fact]
    public void Azure_yaml_deploys_the_AppHost_to_container_apps()
    {
        var yaml = Repo.Read("azure.yaml").Split('\n').Select(l => l.TrimEnd()).ToList();
        Assert.Contains("name: pathfinder-signaling", yaml);
        Assert.Contains("services:", yaml);
        Assert.Contains("    language: dotnet", yaml);
        Assert.Contains("    host: containerapp", yaml);
        var project = yaml.Single(l => l.StartsWith("    project: ", StringComparison.Ordinal))["    project: ".Length..];
        Assert.Equal(Path.GetFullPath(Repo.File("Pathfinder.AppHost/Pathfinder.AppHost.csproj")), Path.GetFullPath(Repo.File(project)));
    }

    [Fact]
    public async Task The_publishing_manifest_holds_redis_the_signaling_replicas_and_the_secret_key()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pathfinder-manifest-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "aspire-manifest.json");
            var run = await Run.Async(
                "dotnet",
                ["run", "--project", "Pathfinder.AppHost", "--no-build", "--", "--publisher", "manifest", "--output-path", path],
                timeout: TimeSpan.FromMinutes(2));
            Assert.True(run.ExitCode == 0 && File.Exists(path), run.ToString());

            using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(path));
            var resources = manifest.RootElement.GetProperty("resources");

            // Everything in it is deployable: no local executables (a redis-server process, a plugin build).
            foreach (var resource in resources.EnumerateObject())
            {
                Assert.NotEqual("executable.v0", resource.Value.GetProperty("type").GetString());
            }

            var redis = resources.GetProperty("redis");
            Assert.StartsWith("container.v", redis.GetProperty("type").GetString(), StringComparison.Ordinal);
            Assert.StartsWith("docker.io/library/redis", redis.GetProperty("image").GetString(), StringComparison.Ordinal);

            var signaling = resources.GetProperty("signaling");
            Assert.StartsWith("project.v", signaling.GetProperty("type").GetString(), StringComparison.Ordinal);
            Assert.Equal(
                Path.GetFullPath(Repo.File("Pathfinder.Signaling/Pathfinder.Signaling.csproj")),
                Path.GetFullPath(Path.Combine(dir, signaling.GetProperty("path").GetString()!)));
            Assert.True(signaling.TryGetProperty("replicas", out var replicas), "the signaling resource carries no replicas");
            Assert.True(replicas.GetInt32() >= 2, "replicas: " + replicas);

            var env = signaling.GetProperty("env");
            Assert.Equal("{redis.connectionString}", env.GetProperty("ConnectionStrings__redis").GetString());
            Assert.Equal("Production", env.GetProperty("ASPNETCORE_ENVIRONMENT").GetString());
            Assert.Equal("{peerjs-key.value}", env.GetProperty("PEERJS_KEY").GetString());
            Assert.True(env.TryGetProperty("KNOWN_PROXIES", out var proxies) && proxies.GetString()!.Length > 0,
                "KNOWN_PROXIES is not set: behind the platform's ingress every client would share one IP for the per-IP limits");
            Assert.True(signaling.GetProperty("bindings").GetProperty("http").GetProperty("external").GetBoolean());

            var key = resources.GetProperty("peerjs-key");
            Assert.Equal("parameter.v0", key.GetProperty("type").GetString());
            var input = key.GetProperty("inputs").GetProperty("value");
            Assert.True(input.GetProperty("secret").GetBoolean());
            // No fixed default: azd asks for it (or generates it); a literal default would ship a known key.
            Assert.False(input.TryGetProperty("default", out var @default) && @default.TryGetProperty("value", out _), "peerjs-key has a literal default");

            Assert.DoesNotContain(resources.EnumerateObject(), r => r.Name.Contains("grafana", StringComparison.OrdinalIgnoreCase));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
