using System.Globalization;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Protocol;

namespace Pathfinder.Signaling.Hosting;

/// <summary>Command-line commands that run instead of the service.</summary>
public static class Commands
{
    public const string GenerateKey = "--generate-key";

    public const string MintToken = "mint-token";

    /// <summary>The longest lifetime mint-token gives a token (a year): tokens are meant to be short-lived.</summary>
    public const long MaxTokenTtlSeconds = 366L * 24 * 60 * 60;

    /// <summary>
    /// Runs a command named in <paramref name="args"/> and returns its exit code; null when there is none (start the
    /// service). <paramref name="configuration"/> is read only by commands that need settings (built on demand).
    /// </summary>
    public static int? TryRun(string[] args, TextWriter output, TextWriter error, Func<IConfiguration>? configuration = null)
    {
        if (args.Length > 0 && args[0] == MintToken)
        {
            return RunMintToken(args[1..], (configuration ?? CommandConfiguration)(), TimeProvider.System, output, error);
        }

        if (args.Contains(GenerateKey, StringComparer.Ordinal))
        {
            // A fresh 32-byte key as hex, for PEERJS_KEY (or PEERJS_TOKEN_SECRET).
            output.WriteLine(AccessKey.Generate());
            return 0;
        }

        return null;
    }

    /// <summary>
    /// <c>mint-token --id ID --ttl SECONDS</c>: prints a token signed for ID that expires SECONDS from now, alone on
    /// the last line of standard output. The secret is the service's (<c>PEERJS_TOKEN_SECRET</c> or
    /// <c>Signaling:TokenSecret</c>, from the environment or appsettings). Exit code 2 with one line on standard error
    /// for a missing or short secret, a bad id or a bad ttl.
    /// </summary>
    public static int RunMintToken(string[] args, IConfiguration configuration, TimeProvider time, TextWriter output, TextWriter error)
    {
        const string usage = "usage: Pathfinder.Signaling mint-token --id ID --ttl SECONDS";
        string? id = null;
        string? ttlText = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--id" when i + 1 < args.Length:
                    id = args[++i];
                    break;
                case "--ttl" when i + 1 < args.Length:
                    ttlText = args[++i];
                    break;
                default:
                    error.WriteLine($"mint-token: unexpected argument '{PeerIdRules.ForLog(args[i])}'; {usage}");
                    return 2;
            }
        }

        if (id is null || ttlText is null)
        {
            error.WriteLine($"mint-token: --id and --ttl are required; {usage}");
            return 2;
        }

        var (secret, setting) = SignalingConfiguration.ReadTokenSecret(configuration);
        if (secret is null)
        {
            error.WriteLine($"mint-token: no token secret: set PEERJS_TOKEN_SECRET (or Signaling:TokenSecret) as for the service");
            return 2;
        }

        if (SignedTokens.SecretProblem(secret) is { } problem)
        {
            error.WriteLine($"mint-token: {setting} {problem}");
            return 2;
        }

        var rules = new PeerIdRules(SignalingConfiguration.ReadMaxIdLength(configuration));
        if (!rules.IsValidId(id))
        {
            error.WriteLine($"mint-token: --id '{PeerIdRules.ForLog(id)}' is not a peer id: {rules.InvalidIdText}");
            return 2;
        }

        if (!long.TryParse(ttlText, NumberStyles.None, CultureInfo.InvariantCulture, out var ttl) || ttl < 1 || ttl > MaxTokenTtlSeconds)
        {
            error.WriteLine($"mint-token: --ttl must be a whole number of seconds between 1 and {MaxTokenTtlSeconds}, got '{PeerIdRules.ForLog(ttlText)}'");
            return 2;
        }

        output.WriteLine(new SignedTokens(secret).Mint(id, time.GetUtcNow().ToUnixTimeSeconds() + ttl));
        return 0;
    }

    /// <summary>The service's configuration sources without starting it: appsettings(.{environment}).json next to the binary, then the environment.</summary>
    private static IConfiguration CommandConfiguration()
    {
        var environment = Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT")
            ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT")
            ?? Environments.Production;
        return new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddJsonFile($"appsettings.{environment}.json", optional: true)
            .AddEnvironmentVariables()
            .Build();
    }
}
