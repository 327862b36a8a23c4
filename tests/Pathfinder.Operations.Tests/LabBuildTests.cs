namespace Pathfinder.Operations.Tests;

/// <summary>
/// The session lab's build steps (Pathfinder.Signaling.csproj: RestoreLabClient, EmbedLabClient) on a machine without
/// npm: README promises that running needs only the .NET SDK, so the build must go on without the lab and say why,
/// not fail. Run as MSBuild runs them in a real build, with a PATH holding only <c>sh</c> and <c>dotnet</c> and the
/// lab's lock file in a scratch folder (the repository's own node_modules stay untouched).
/// </summary>
public sealed class LabBuildTests : IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("pathfinder-lab-build-");

    [Fact]
    public async Task A_machine_without_npm_builds_without_the_lab_and_says_how_to_get_it()
    {
        var bin = _scratch.CreateSubdirectory("bin").FullName;
        var lab = _scratch.CreateSubdirectory("lab").FullName;
        var dotnet = RealPath(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : OnPath("dotnet"));
        File.CreateSymbolicLink(Path.Combine(bin, "dotnet"), dotnet);
        File.CreateSymbolicLink(Path.Combine(bin, "sh"), RealPath("/bin/sh"));
        foreach (var file in new[] { "package.json", "package-lock.json" })
        {
            File.Copy(Repo.File($"Pathfinder.Signaling/Lab/{file}"), Path.Combine(lab, file));
        }

        var result = await Run.Async(
            dotnet,
            ["msbuild", Repo.File("Pathfinder.Signaling/Pathfinder.Signaling.csproj"), "-nologo", "-v:minimal",
             "-t:RestoreLabClient;EmbedLabClient", $"-p:LabClientDirectory={lab}/"],
            new Dictionary<string, string?> { ["PATH"] = bin, ["DOTNET_ROOT"] = Path.GetDirectoryName(dotnet) },
            timeout: TimeSpan.FromSeconds(120));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(
            "npm was not found, so this build has no session lab (/lab). Install Node.js and npm (Debian: apt-get install -y npm) and build again to get it.",
            result.Stdout,
            StringComparison.Ordinal);
        Assert.DoesNotContain("warning", result.Stdout, StringComparison.OrdinalIgnoreCase);
        Assert.False(Directory.Exists(Path.Combine(lab, "node_modules")), "nothing was installed");
    }

    public void Dispose() => _scratch.Delete(recursive: true);

    private static string OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"no {name} on PATH");

    private static string RealPath(string path) =>
        File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
}
