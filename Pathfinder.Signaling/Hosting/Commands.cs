using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Hosting;

/// <summary>Command-line commands that run instead of the service.</summary>
public static class Commands
{
    public const string GenerateKey = "--generate-key";

    /// <summary>Runs a command named in <paramref name="args"/>; false when there is none (start the service).</summary>
    public static bool TryRun(string[] args, TextWriter output)
    {
        if (args.Contains(GenerateKey, StringComparer.Ordinal))
        {
            // A fresh 32-byte key as hex, for PEERJS_KEY.
            output.WriteLine(AccessKey.Generate());
            return true;
        }

        return false;
    }
}
