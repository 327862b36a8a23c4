using System.Runtime.InteropServices;
using Microsoft.Extensions.Configuration;

namespace Pathfinder.AppHost;

/// <summary>
/// How Garnet (Microsoft's RESP server, MIT) is started: <c>{Command} {Prefix…} --port … --lua true
/// --lua-transaction-mode true</c>. By default
/// the <c>garnet-server</c> .NET tool pinned in the repository's tool manifest (.config/dotnet-tools.json), which
/// <see cref="Locate"/> restores from NuGet (seconds, once per machine) so that a fresh machine needs no third
/// command; <c>Pathfinder:GarnetServer</c> names an installed garnet-server instead.
/// </summary>
/// <param name="Command">The program: dotnet, or the configured garnet-server.</param>
/// <param name="Prefix">Arguments before Garnet's own (<c>tool run garnet-server --</c> for the tool).</param>
/// <param name="WorkingDirectory">Where the tool manifest is found (the AppHost's directory or above).</param>
/// <param name="Description">For the console.</param>
public sealed record GarnetLaunch(string Command, IReadOnlyList<string> Prefix, string WorkingDirectory, string Description)
{
    public const string ConfigKey = "Pathfinder:GarnetServer";

    /// <summary>How long <c>dotnet tool restore</c> may take (the first one downloads the tool, ~110 MB).</summary>
    public static readonly TimeSpan RestoreTimeout = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Garnet's arguments after the port: loopback only, Lua on (the cluster layer's scripts need it) and each script
    /// run as a transaction: without it Garnet runs scripts concurrently, and two racing claims of one id both won
    /// (3 winners of 9 in a plain GET-then-SET script; ScaleOutContract's racing-claims check on garnet/2).
    /// </summary>
    public static readonly IReadOnlyList<string> ServerArguments = ["--bind", "127.0.0.1", "--lua", "true", "--lua-transaction-mode", "true"];

    /// <summary>A launch, or why Garnet cannot run here.</summary>
    public sealed record Availability(GarnetLaunch? Launch, string Problem);

    /// <summary>The configured garnet-server, else the tool of the manifest once <c>dotnet tool restore</c> succeeds.</summary>
    public static Availability Locate(IConfiguration configuration, string appHostDirectory, Func<string, string?> findProgram)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(findProgram);
        var configured = configuration[ConfigKey];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return findProgram(configured) is { } program
                ? new(new(program, [], appHostDirectory, program), string.Empty)
                : new(null, $"no garnet-server at {ConfigKey}={configured}");
        }

        var dotnet = DotnetHost(findProgram);
        if (dotnet is null)
        {
            return new(null, "the dotnet host was not found");
        }

        var (exitCode, output) = BoundedProcess.Run(dotnet, ["tool", "restore"], RestoreTimeout, appHostDirectory);
        return exitCode == 0
            ? new(new(dotnet, ["tool", "run", "garnet-server", "--"], appHostDirectory, "the garnet-server .NET tool (.config/dotnet-tools.json)"), string.Empty)
            : new(null, $"`dotnet tool restore` failed ({(exitCode is null ? "timed out" : $"exit {exitCode}")}): {output}");
    }

    /// <summary>The dotnet muxer: the SDK's DOTNET_HOST_PATH, the one this runtime belongs to, or dotnet on PATH.</summary>
    private static string? DotnetHost(Func<string, string?> findProgram)
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrWhiteSpace(host) && File.Exists(host))
        {
            return host;
        }

        // {root}/shared/Microsoft.NETCore.App/{version}/ → {root}/dotnet
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var muxer = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(muxer) ? muxer : findProgram("dotnet");
    }
}
