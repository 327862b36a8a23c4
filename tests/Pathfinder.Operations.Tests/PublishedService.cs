namespace Pathfinder.Operations.Tests;

/// <summary>
/// The Dockerfile's build stage, played without a container engine, once for the tests that need its output: every
/// <c>COPY</c> of the build stage copies from the repository (through .dockerignore) into a fresh folder standing for
/// WORKDIR, and every <c>RUN</c> runs there in order — <c>dotnet restore</c>, then <c>dotnet publish</c> into a folder
/// standing for the publish output. So a file the Dockerfile forgets to copy fails here as it would in
/// <c>docker build</c>, and nothing touches the repository's own bin/ and obj/ folders. Offline: restore finds every
/// package in the machine's NuGet cache (filled by the solution's restore), with the vulnerability audit off because
/// it would ask the feed. Low CPU priority and no build servers left behind.
/// </summary>
public sealed class PublishedService : IAsyncLifetime
{
    public const string DockerfilePath = "Pathfinder.Signaling/Dockerfile";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "pathfinder-ops-" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>The publish output (the image's /app).</summary>
    public string Directory => Path.Combine(_root, "publish");

    /// <summary>The publish command as the Dockerfile has it.</summary>
    public IReadOnlyList<string> DockerfileCommand { get; private set; } = [];

    /// <summary>What ran, in order, and how each step ended.</summary>
    internal List<(string Step, RunResult Result)> Steps { get; } = [];

    /// <summary>A scratch folder of the fixture's own (removed at the end).</summary>
    public string Scratch(string name)
    {
        var dir = Path.Combine(_root, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        return dir;
    }

    public async Task InitializeAsync()
    {
        var (_, stages) = Dockerfile.Parse(Repo.Read(DockerfilePath));
        var build = stages[0];
        var context = Path.Combine(_root, "context");
        var ignore = DockerIgnore.Load(Repo.File(".dockerignore"));
        var workdir = "/";
        foreach (var instruction in build.Instructions)
        {
            switch (instruction.Keyword)
            {
                case "WORKDIR":
                    workdir = instruction.Arguments;
                    System.IO.Directory.CreateDirectory(Map(context, workdir, workdir));
                    break;
                case "COPY":
                    Copy(instruction.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries), Map(context, workdir, workdir), ignore);
                    break;
                case "RUN" when instruction.Arguments.StartsWith("apt-get ", StringComparison.Ordinal):
                    // The build tools the image installs (npm for the session lab) are on this machine already.
                    break;
                case "RUN":
                    var args = instruction.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
                    Assert.Equal("dotnet", args[0]);
                    if (args[1] == "publish")
                    {
                        DockerfileCommand = args;
                    }

                    // Absolute paths of the image (the publish output) point into this fixture's folder.
                    args = [.. args.Select(a => a.StartsWith('/') ? Map(context, workdir, a) : a)];
                    var output = args.IndexOf("-o");
                    if (output > 0 && args[1] == "publish")
                    {
                        args[output + 1] = Directory;
                    }

                    args.AddRange(args[1] == "restore"
                        ? ["-p:NuGetAudit=false"]
                        : ["-nodeReuse:false", "-p:UseSharedCompilation=false"]);
                    args.AddRange(["-nologo", "-clp:ErrorsOnly"]);
                    var result = await Run.Async("nice", ["-n", "15", .. args], workingDirectory: Map(context, workdir, workdir), timeout: TimeSpan.FromMinutes(5));
                    Steps.Add((string.Join(' ', args), result));
                    if (result.ExitCode != 0)
                    {
                        return;
                    }

                    break;
                default:
                    throw new InvalidOperationException($"the build stage has a {instruction.Keyword} this test does not play");
            }
        }
    }

    public Task DisposeAsync()
    {
        try
        {
            System.IO.Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return Task.CompletedTask;
    }

    /// <summary>Fails the calling test with the build stage's output when it did not produce the service.</summary>
    public void EnsurePublished() =>
        Assert.True(
            Steps.Count > 0 && Steps.All(s => s.Result.ExitCode == 0) && File.Exists(Path.Combine(Directory, "Pathfinder.Signaling.dll")),
            "the Dockerfile's build stage failed:\n" + string.Join("\n", Steps.Select(s => $"$ {s.Step}\n{s.Result}")));

    // An image path (absolute, or relative to WORKDIR) inside the folder that stands for the image's file system.
    private static string Map(string context, string workdir, string path) =>
        Path.Combine(context, Path.GetFullPath(path, workdir).TrimStart('/'));

    // COPY src... dest: files into dest (a folder when it ends with '/' or there are several sources), a folder's
    // contents into dest; .dockerignore'd paths are not in the build context.
    private static void Copy(string[] parts, string workdir, DockerIgnore ignore)
    {
        Assert.DoesNotContain(parts, p => p.StartsWith("--", StringComparison.Ordinal));
        var destination = parts[^1];
        var target = Path.Combine(workdir, destination);
        foreach (var source in parts[..^1])
        {
            var from = Repo.File(source);
            if (System.IO.Directory.Exists(from))
            {
                foreach (var file in System.IO.Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
                {
                    var relative = Path.GetRelativePath(Repo.Root, file);
                    if (!ignore.Ignores(relative))
                    {
                        var to = Path.Combine(target, Path.GetRelativePath(from, file));
                        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                        File.Copy(file, to, overwrite: true);
                    }
                }
            }
            else
            {
                Assert.True(File.Exists(from) && !ignore.Ignores(source), $"COPY {source}: not in the build context");
                var to = destination.EndsWith('/') || parts.Length > 2 ? Path.Combine(target, Path.GetFileName(source)) : target;
                System.IO.Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                File.Copy(from, to, overwrite: true);
            }
        }
    }
}

/// <summary>The subset of .dockerignore syntax this repository uses: <c>**/name/</c>, <c>**/*.ext</c>, <c>**/name</c> and top-level names.</summary>
internal sealed class DockerIgnore(IReadOnlyList<string> patterns)
{
    public IReadOnlyList<string> Patterns => patterns;

    public static DockerIgnore Load(string path) =>
        new(File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList());

    /// <summary>Whether a path relative to the build context is left out of it.</summary>
    public bool Ignores(string relativePath)
    {
        var segments = relativePath.Replace('\\', '/').Split('/');
        foreach (var pattern in patterns)
        {
            var directory = pattern.EndsWith('/');
            var body = pattern.TrimEnd('/');
            if (body.StartsWith("**/", StringComparison.Ordinal))
            {
                var name = body[3..];
                var candidates = directory ? segments[..^1] : segments;
                if (candidates.Any(s => Matches(name, s)))
                {
                    return true;
                }
            }
            else if (segments[0] == body || relativePath == body)
            {
                return true;
            }
        }

        return false;
    }

    private static bool Matches(string glob, string name) =>
        glob.StartsWith('*') ? name.EndsWith(glob[1..], StringComparison.Ordinal) : name == glob;
}

[CollectionDefinition(Name)]
public sealed class PublishedServiceCollection : ICollectionFixture<PublishedService>
{
    public const string Name = "published service";
}
