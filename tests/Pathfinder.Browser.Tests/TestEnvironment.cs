using System.Reflection;
using System.Text.Json;

namespace Pathfinder.Browser.Tests;

/// <summary>
/// Preconditions of the browser tests. Each one that is not met FAILS the tests with a message saying what to do:
/// a browser test that silently passes or skips would hide that the real client was never exercised.
/// </summary>
internal static class TestEnvironment
{
    public const string PeerJsVersion = "1.5.5";

    private const string NpmCiHint = "run `npm ci --prefix tests/Pathfinder.Browser.Tests/client` (from the repository root) before the tests";

    private const string NetnsHint =
        "run the browser tests through scripts/test.sh, or by hand: "
        + "`scripts/netns-run.sh dotnet test tests/Pathfinder.Browser.Tests --no-build` "
        + "(build and restore first: the namespace has no route to package sources)";

    /// <summary>Interfaces that scripts/netns-run.sh (and ../shared/tools/netns-run) create: loopback and a veth pair whose two ends both live inside.</summary>
    private static readonly string[] NetnsInterfaces = ["lo", "pf0", "pf1"];

    /// <summary>
    /// WebRTC gathers candidates on every host address and sends STUN checks to them, so Chromium must never run on the
    /// host network. The process must be in a network namespace (1) other than the one of PID 1 and (2) whose only
    /// interfaces are those netns-run creates. The interfaces are read from /proc/self/net/dev, which (unlike
    /// /sys/class/net, which shows the namespace sysfs was mounted in) always describes the reader's own namespace.
    /// PATHFINDER_NETNS=1, set by the runner, only improves the message: it is the namespace itself that is checked.
    /// </summary>
    public static void EnsureIsolatedNetwork()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException($"The browser tests need Linux network namespaces; {NetnsHint}.");
        }

        var interfaces = ReadInterfaces();
        var unexpected = interfaces.Where(name => !NetnsInterfaces.Contains(name, StringComparer.Ordinal)).ToList();
        var own = NamespaceOf("/proc/self/ns/net");
        var init = NamespaceOf("/proc/1/ns/net");
        var sameAsInit = own is not null && init is not null && string.Equals(own, init, StringComparison.Ordinal);
        var marker = Environment.GetEnvironmentVariable("PATHFINDER_NETNS") == "1";

        if (unexpected.Count == 0 && !sameAsInit && interfaces.Contains("lo", StringComparer.Ordinal))
        {
            return;
        }

        var what = sameAsInit
            ? $"this process shares the network namespace of PID 1 ({own})"
            : $"this network namespace has interfaces [{string.Join(", ", interfaces)}]; only [{string.Join(", ", NetnsInterfaces)}] are allowed";
        var markerNote = marker
            ? " PATHFINDER_NETNS=1 is set, but the namespace is not the one netns-run creates."
            : string.Empty;
        throw new InvalidOperationException(
            $"Refusing to start Chromium outside the private network namespace: {what}. WebRTC would send packets on "
            + $"the host's networks.{markerNote} To fix: {NetnsHint}.");
    }

    /// <summary>client/node_modules/peerjs/dist/peerjs.min.js, checked to be peerjs <see cref="PeerJsVersion"/>.</summary>
    public static string LocatePeerJsBundle()
    {
        var clientDirectory = typeof(TestEnvironment).Assembly
            .GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "PeerJsClientDirectory")
            .Value!;
        var package = Path.Combine(clientDirectory, "node_modules", "peerjs");
        var bundle = Path.Combine(package, "dist", "peerjs.min.js");
        if (!File.Exists(bundle))
        {
            throw new InvalidOperationException($"The peerjs client bundle is missing ({bundle}): {NpmCiHint}.");
        }

        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(package, "package.json")));
        var version = manifest.RootElement.GetProperty("version").GetString();
        if (version != PeerJsVersion)
        {
            throw new InvalidOperationException(
                $"node_modules holds peerjs {version}, the tests pin {PeerJsVersion}: {NpmCiHint}.");
        }

        return bundle;
    }

    /// <summary>The system Chromium (Debian package `chromium`); tests never download a browser.</summary>
    public static string LocateChromium()
    {
        var path = Environment.GetEnvironmentVariable("PATHFINDER_CHROMIUM") is { Length: > 0 } custom
            ? custom
            : "/usr/bin/chromium";
        if (!File.Exists(path))
        {
            throw new InvalidOperationException(
                $"Chromium is missing at {path}: install it with `apt-get install -y chromium` (browsers are never downloaded by the tests).");
        }

        return path;
    }

    private static List<string> ReadInterfaces()
    {
        // Two header lines, then "  name: counters...".
        return [.. File.ReadLines("/proc/self/net/dev")
            .Skip(2)
            .Select(line => line.Split(':', 2)[0].Trim())
            .Where(name => name.Length > 0)
            .Order(StringComparer.Ordinal)];
    }

    private static string? NamespaceOf(string link)
    {
        try
        {
            return new FileInfo(link).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
