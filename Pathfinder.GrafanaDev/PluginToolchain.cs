using System.Diagnostics;
using System.Globalization;

namespace Pathfinder.GrafanaDev;

/// <summary>
/// What a plugin checkout needs from this machine, checked before anything starts and said once on the console with
/// the fix: the Node major its <c>.nvmrc</c> names (against <c>node --version</c>), and Go and mage for a backend
/// plugin (without them plugin-dev waits for the backend binary forever). Tools are looked up on
/// <see cref="ExecutableLocator.SearchPath"/>.
/// </summary>
public static class PluginToolchain
{
    private static readonly TimeSpan VersionTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The Node major the checkout's .nvmrc asks for ("24", "v24.11.0"), or null (none, or an alias such as lts/*).</summary>
    public static int? RequiredNodeMajor(string checkout)
    {
        var nvmrc = Path.Combine(checkout, ".nvmrc");
        if (!File.Exists(nvmrc))
        {
            return null;
        }

        var text = File.ReadAllText(nvmrc).Trim().TrimStart('v', 'V');
        var digits = text.Split('.')[0];
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? major : null;
    }

    /// <summary>Notes a missing node, or a node whose major differs from the .nvmrc's; returns the required major.</summary>
    public static int? CheckNode(string checkout, string? searchPath, StartupNotes notes)
    {
        ArgumentNullException.ThrowIfNull(notes);
        var required = RequiredNodeMajor(checkout);
        if (required is null)
        {
            return null;
        }

        var fix = $"Fix: `nvm install {required} && nvm use {required}` (or install Node {required} from https://nodejs.org) and restart the AppHost.";
        var node = ExecutableLocator.Find("node", searchPath);
        if (node is null)
        {
            notes.Warn($"Plugin dev build from {checkout}: the plugin needs Node {required} (.nvmrc) and `node` is not on PATH, so npm ci cannot run. {fix}");
            return required;
        }

        var version = NodeVersion(node);
        if (version is null)
        {
            notes.Warn($"Plugin dev build from {checkout}: the plugin needs Node {required} (.nvmrc) and `{node} --version` did not answer. {fix}");
        }
        else if (MajorOf(version) != required)
        {
            notes.Warn(
                $"Plugin dev build from {checkout}: the plugin needs Node {required} (.nvmrc), but `node --version` is {version}: " +
                $"npm ci or the dev build may fail. {fix}");
        }

        return required;
    }

    /// <summary>
    /// Says why a backend plugin cannot be built here (no go, or no mage) and what to install; null when both are on PATH.
    /// </summary>
    public static string? MissingBackendTools(string checkout, string evidence, string backendBinary, string? searchPath)
    {
        var go = ExecutableLocator.Find("go", searchPath);
        var mage = ExecutableLocator.Find("mage", searchPath);
        if (go is not null && mage is not null)
        {
            return null;
        }

        var missing = go is null ? "`go`" : "`mage`";
        var built = File.Exists(Path.Combine(checkout, "dist", backendBinary))
            ? $"so dist/{backendBinary} is not rebuilt (Grafana runs the one already there)"
            : $"so plugin-dev can never turn healthy (it waits for dist/{backendBinary}) and Grafana never starts";
        var install = go is null
            ? "install Go (https://go.dev/doc/install) and mage (`go install github.com/magefile/mage@latest`, with $(go env GOPATH)/bin on PATH)"
            : "install mage (`go install github.com/magefile/mage@latest`, with $(go env GOPATH)/bin on PATH)";
        return $"Plugin dev build from {checkout}: the plugin has a Go backend ({evidence}) and {missing} is not on PATH, {built}. " +
            $"Fix: {install} and restart the AppHost, or run `mage -v build:linux` in the checkout once.";
    }

    private static string? NodeVersion(string node)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(node, "--version")
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return null;
            }

            var output = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(VersionTimeout) || !output.Wait(VersionTimeout))
            {
                process.Kill(entireProcessTree: true);
                return null;
            }

            var version = output.Result.Trim();
            return version.Length == 0 ? null : version;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return null;
        }
    }

    private static int? MajorOf(string version) =>
        int.TryParse(version.TrimStart('v', 'V').Split('.')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? major : null;
}
