using Microsoft.Extensions.Configuration;

namespace Pathfinder.AppHost;

/// <summary>
/// Whether this run may add container resources. It must be decided before the model is built: a container resource
/// without a runtime never starts and everything that waits for it waits forever, and Aspire's own runtime check only
/// exists after Build(). <c>Pathfinder:Containers</c> (env <c>Pathfinder__Containers</c>) = auto | on | off.
/// </summary>
public sealed record ContainerSupport(bool Usable, string Reason)
{
    public const string ConfigKey = "Pathfinder:Containers";

    /// <summary>How long one runtime probe may take; an answering daemon replies in milliseconds.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Applies the switch; in auto mode asks docker, then podman (or ASPIRE_CONTAINER_RUNTIME's runtime).</summary>
    public static ContainerSupport Detect(IConfiguration configuration, Func<string, bool>? probe = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var mode = (configuration[ConfigKey] ?? "auto").Trim().ToLowerInvariant();
        switch (mode)
        {
            case "on":
                return new(true, $"{ConfigKey}=on");
            case "off":
                return new(false, $"{ConfigKey}=off");
            case "auto" or "":
                break;
            default:
                throw new DistributedApplicationException(
                    $"{ConfigKey} is '{configuration[ConfigKey]}': use auto (probe docker/podman), on or off.");
        }

        probe ??= RuntimeAnswers;
        var configured = configuration["DcpPublisher:ContainerRuntime"] ?? configuration["ASPIRE_CONTAINER_RUNTIME"];
        string[] runtimes = string.IsNullOrWhiteSpace(configured) ? ["docker", "podman"] : [configured];
        foreach (var runtime in runtimes)
        {
            if (probe(runtime))
            {
                if (runtime == "podman" && string.IsNullOrWhiteSpace(configured))
                {
                    // Only podman answers: tell Aspire to use it rather than its docker default.
                    configuration["DcpPublisher:ContainerRuntime"] = "podman";
                }

                return new(true, $"`{runtime} container ls` answered");
            }
        }

        return new(false, $"no container runtime answered (`{string.Join("`, `", runtimes.Select(r => r + " container ls"))}`)");
    }

    /// <summary>True when <c>{runtime} container ls -n 1</c> exits 0 within <see cref="ProbeTimeout"/>.</summary>
    public static bool RuntimeAnswers(string runtime) =>
        BoundedProcess.Run(runtime, ["container", "ls", "-n", "1"], ProbeTimeout).ExitCode == 0;
}
